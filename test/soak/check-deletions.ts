/**
 * Every deletion of a guest row during the run, judged against Luma's state at that
 * moment: a row may go only when its guest was no longer approved then (stale removal),
 * or with its member (the driver deleted the member). A directory-created row never goes.
 */
import type { GuestChange } from './audit.ts';
import type { ApprovalChange } from './luma-soak-process.ts';
import { examples, type Invariant, invariant } from './report.ts';

export function checkDeletions(input: {
  deletions: GuestChange[];
  changes: ApprovalChange[];
  /** Luma event id by event uid. */
  lumaIdOf: Map<string, string>;
  /** Luma event ids whose lists are generated (every guest approved throughout). */
  generated: Set<string>;
  deletedMembers: Set<string>;
}): Invariant {
  const timeline = new Map<string, ApprovalChange[]>();
  for (const change of input.changes) {
    const key = `${change.eventId}/${change.guestId}`;
    timeline.set(key, [...(timeline.get(key) ?? []), change]);
  }
  const approvedAt = (lumaId: string, guestId: string, at: number): boolean => {
    if (input.generated.has(lumaId)) return guestId.startsWith(`gst-${lumaId}-`);
    const history = timeline.get(`${lumaId}/${guestId}`) ?? [];
    const last = history.filter((c) => c.at <= at).at(-1);
    return last?.approved ?? false;
  };
  const wrong: string[] = [];
  let judged = 0;
  for (const deletion of input.deletions) {
    if (input.deletedMembers.has(deletion.memberUid)) continue;
    judged++;
    const when = new Date(deletion.at).toISOString();
    if (deletion.externalGuestId === null) {
      wrong.push(`directory row ${deletion.eventUid}/${deletion.memberUid} at ${when}`);
      continue;
    }
    const lumaId = deletion.eventUid ? input.lumaIdOf.get(deletion.eventUid) : undefined;
    if (lumaId && approvedAt(lumaId, deletion.externalGuestId, deletion.at)) {
      wrong.push(`${deletion.eventUid}/${deletion.memberUid} (${deletion.externalGuestId}, approved) at ${when}`);
    }
  }
  return invariant(
    'deletions: no still-approved guest ever deleted',
    wrong.length === 0,
    `${input.deletions.length} deletions (${judged} by the worker), ${wrong.length} of approved guests${examples(wrong)}`,
  );
}
