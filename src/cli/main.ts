import { runHelper } from "../helper/helper.ts";

export async function main(args: string[]): Promise<number> {
  if (args[0] === "remote-helper") return await runHelper(args.slice(1));
  console.error("trunks: not yet");
  return 1;
}
