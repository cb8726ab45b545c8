/**
 * A synced guest row takes the member's main team ("TeamMemberRole"."mainTeam"), never
 * another of their teams, whatever order PostgreSQL finds the roles in. A lookup that
 * dropped the main-team condition would take the first role its scan meets: by team uid
 * on the (memberUid, teamUid) key, or by the order the roles were written. Two members
 * cover both orders each way: one whose other team comes first by uid and by writing, one
 * whose main team does. Whichever order a scan takes, one of them gets a wrong team.
 * (test/sync/mutation-gaps.test.ts has one member with random team uids: it caught that
 * mutant only when the random uids fell the right way; hand mutant `add-page/any-team`.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newUid } from '../../src/db/ids.ts';
import * as schema from '../../src/db/schema.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedMember, seedTeam, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db } = await createTestDatabase({ label: 'main_team' });
const luma = useSimulatedLuma();

describe('the main team of a synced guest', () => {
  it('is the main one whether it comes before or after the member’s other team, by uid and by writing', async () => {
    const stem = newUid();
    const team = (order: string) => seedTeam(db, { uid: `${order}-${stem}` });
    // First member: the other team sorts first and is written first.
    const [otherFirst, mainSecond] = [await team('a1'), await team('z1')];
    const first = await seedMember(db, { otherTeamUids: [otherFirst.uid] });
    await db.insert(schema.teamMemberRole).values({ memberUid: first.uid, teamUid: mainSecond.uid, mainTeam: true });
    // Second member: the main team sorts first and is written first.
    const [mainFirst, otherSecond] = [await team('a2'), await team('z2')];
    const second = await seedMember(db, { mainTeamUid: mainFirst.uid, otherTeamUids: [otherSecond.uid] });

    const event = await seedEvent(db);
    const message = syncMessageFor(event);
    luma.serve({
      events: {
        [message.externalEventId]: [
          { id: 'gst-first', email: first.email! },
          { id: 'gst-second', email: second.email! },
        ],
      },
    });

    await syncEvent(syncDeps(db), message);

    const teams = new Map((await guestsOf(db, event.uid)).map((row) => [row.memberUid, row.teamUid]));
    assert.equal(teams.get(first.uid), mainSecond.uid, 'the first member’s main team, written after the other');
    assert.equal(teams.get(second.uid), mainFirst.uid, 'the second member’s main team, written before the other');
  });
});
