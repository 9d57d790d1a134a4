/**
 * A TCP forwarder on a loopback port, so a test can take a real server "down" (nothing
 * listens: connection refused) and bring it back on the same port, without stopping the
 * server other tests share.
 */
export class TcpProxy {
  #listener: Deno.Listener | null = null;
  #conns = new Set<Deno.Conn>();
  port = 0;

  constructor(readonly target: { hostname: string; port: number }) {}

  /** Listen (again) on the same port. */
  up(): void {
    if (this.#listener) return;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    const l = this.#listener;
    (async () => {
      try {
        for await (const conn of l) this.#pipe(conn);
      } catch {
        // closed
      }
    })();
  }

  /** Stop listening and cut every open connection. */
  down(): void {
    this.#listener?.close();
    this.#listener = null;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
  }

  async #pipe(conn: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(this.target);
    } catch {
      conn.close();
      return;
    }
    this.#conns.add(conn);
    this.#conns.add(upstream);
    const done = () => {
      for (const c of [conn, upstream]) {
        this.#conns.delete(c);
        try {
          c.close();
        } catch {
          // already closed
        }
      }
    };
    // Either side finishing ends the connection (HTTP clients reconnect as needed).
    await Promise.race([
      conn.readable.pipeTo(upstream.writable, { preventClose: true }).catch(() => {}),
      upstream.readable.pipeTo(conn.writable, { preventClose: true }).catch(() => {}),
    ]);
    done();
  }
}

/** `http://127.0.0.1:9000/x` -> its host and port. */
export function hostPort(endpoint: string): { hostname: string; port: number } {
  const u = new URL(endpoint);
  return { hostname: u.hostname, port: Number(u.port) };
}
