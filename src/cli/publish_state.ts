/**
 * Where a branch stands against the git remote it is published to (GitHub, usually
 * `origin`): as `git status` tells it, from the remote-tracking ref of the last fetch or
 * push, without contacting the remote.
 */
import { git, gitText } from "../git/run.ts";
import { REMOTE } from "../local/repo.ts";

export const PUBLISH_REMOTE = "origin";

export interface PublishState {
  /** The git remote compared against; null when this repository has none to publish to. */
  remote: string | null;
  /** `origin/<branch>` when it exists locally (null: never published or fetched). */
  tracking: string | null;
  ahead: number | null;
  behind: number | null;
}

async function quiet(args: string[]): Promise<string | null> {
  const r = await git(args, { okCodes: [1, 2, 128] });
  const s = new TextDecoder().decode(r.stdout).trim();
  return r.code === 0 && s ? s : null;
}

/** A git remote other than the trunk's own, or null. */
export async function publishRemote(name = PUBLISH_REMOTE): Promise<string | null> {
  if (name === REMOTE) return null;
  return await quiet(["remote", "get-url", name]) ? name : null;
}

export async function publishState(
  branch: string | null,
  head: string | null,
  remoteName = PUBLISH_REMOTE,
): Promise<PublishState> {
  const remote = await publishRemote(remoteName);
  const out: PublishState = { remote, tracking: null, ahead: null, behind: null };
  if (!remote || !branch || !head) return out;
  const ref = `refs/remotes/${remote}/${branch}`;
  const oid = await quiet(["rev-parse", "-q", "--verify", `${ref}^{commit}`]);
  if (!oid) return out;
  out.tracking = `${remote}/${branch}`;
  const [a, b] = (await gitText(["rev-list", "--left-right", "--count", `${head}...${oid}`]))
    .split(/\s+/).map(Number);
  out.ahead = a;
  out.behind = b;
  return out;
}

/** The status line: what `trunks publish` would do, or how to add GitHub. */
export function describePublish(p: PublishState, branch: string | null): string {
  if (!p.remote) {
    return `no ${PUBLISH_REMOTE} remote; to publish for review (e.g. GitHub): git remote add ${PUBLISH_REMOTE} <url>, then trunks publish`;
  }
  if (!branch) return `${p.remote} (HEAD is detached)`;
  if (!p.tracking) return `${branch} not on ${p.remote} yet: trunks publish`;
  const { ahead, behind } = p;
  if (!ahead && !behind) return `up to date with ${p.tracking} (as of the last fetch or publish)`;
  if (ahead && !behind) return `ahead of ${p.tracking} by ${ahead} commit(s): trunks publish`;
  if (!ahead) return `behind ${p.tracking} by ${behind} commit(s)`;
  return `diverged from ${p.tracking} (${ahead} ahead, ${behind} behind)`;
}
