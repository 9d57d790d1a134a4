/** The shape of one `trunks` command; commands are loaded lazily by src/cli/main.ts. */
export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

export type Loader = () => Promise<Command>;
