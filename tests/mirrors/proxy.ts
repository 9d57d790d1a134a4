/**
 * A TCP forwarder on a loopback port, so a test can take a real server "down" (nothing
 * listens: connection refused) and bring it back on the same port, without stopping the
 * server other tests share; or stall it (it stops reading what clients send, so their
 * writes back up, as with a peer that hangs mid-upload).
 */
export class TcpProxy {
  #listener: Deno.Listener | null = null;
  #conns = new Set<Deno.Conn>();
  #flowing: PromiseWithResolvers<void> | null = null;
  port = 0;

  /** Stop (true) or resume (false) reading from clients; connections stay open. */
  stall(on: boolean): void {
    if (on) this.#flowing ??= Promise.withResolvers();
    else {
      this.#flowing?.resolve();
      this.#flowing = null;
    }
  }

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
    this.stall(false);
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
    const fromClient = async () => {
      const r = conn.readable.getReader();
      const w = upstream.writable.getWriter();
      for (;;) {
        while (this.#flowing) await this.#flowing.promise;
        const { done, value } = await r.read();
        if (done) return;
        await w.write(value);
      }
    };
    await Promise.race([
      fromClient().catch(() => {}),
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
