export function main(_args: string[]): Promise<number> {
  console.error("trunks: not yet");
  return Promise.resolve(1);
}
