# Records the server's first flight: the bytes it sends before the client's
# second write, through a loopback proxy between s_client and s_server.
import socket, sys, threading, select
listen_port, server_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(1)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", server_port))
flight, client_writes = b"", 0
while True:
    r, _, _ = select.select([c, s], [], [], 3)
    if not r: break
    if c in r:
        d = c.recv(65536)
        if not d: break
        client_writes += 1
        if client_writes > 1: break
        s.sendall(d)
    if s in r:
        d = s.recv(65536)
        if not d: break
        flight += d
        c.sendall(d)
open(out, "wb").write(flight)
print(out, len(flight))
