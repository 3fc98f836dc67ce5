//! `portcullis:plugin/config`: the plugin's own configuration block.

use crate::plugin::bindings::config::Host;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn get_json(&mut self) -> wasmtime::Result<String> {
        Ok(self.context.config_json.clone())
    }

    fn instance_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.context.name.clone())
    }
}
