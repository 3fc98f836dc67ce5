"""AWS Secrets Manager and KMS on loopback: moto's server on a free port.

Prints `listening http://127.0.0.1:PORT` once it serves, and stops when its
standard input closes (when the test binary that started it exits).
"""

import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening http://{host}:{port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
