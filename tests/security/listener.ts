/**
 * A TCP listener on 127.0.0.1 that stands in for a storage server (PostgreSQL, S3,
 * SFTP) a hostile storage map points at: it accepts, records every byte that arrives,
 * and answers nothing. A test asserts it saw no connection at all.
 */
export class RecordingListener {
  readonly #listener: Deno.TcpListener;
  connections = 0;
  #bytes: Uint8Array[] = [];
  #conns: Deno.TcpConn[] = [];

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  /** Everything received, as text (credentials are text). */
  get received(): string {
    return this.#bytes.map((b) => new TextDecoder().decode(b)).join("");
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.connections++;
        this.#conns.push(conn);
        (async () => {
          try {
            for await (const chunk of conn.readable) this.#bytes.push(chunk);
          } catch {
            // the client gave up
          }
        })();
      }
    } catch {
      // closed
    }
  }

  close(): void {
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#listener.close();
  }
}
