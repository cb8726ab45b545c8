/**
 * The text `status` prints (format-status.ts), pinned whole: the table and the history are
 * what an operator reads, so every column, width, duration ("2d 2h", "in 4h 5m", "0s"),
 * outcome label and the name cut at 32 characters is behaviour. The fixture covers each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEventHistory, formatStatusTable } from '../../src/status/format-status.ts';
import { events, history, now } from './format-status-fixture.ts';

describe('the status text', () => {
  it('lists the events in aligned columns with durations, flags and a summary', () => {
    const expected = [
      'EVENT         NAME                              STARTS             LAST ATTEMPT  TRIGGER   OUTCOME            PAGES  CREATED  MATCHED  NO ACCOUNT  AGE    NEXT DUE          STATUS',
      'evt-long      An event whose name is too long…  2026-12-08 18:30Z  2d 2h ago     webhook   failed (provider)  3      7        40       210         3d 2h  now (48h)         FAILED,OVERDUE',
      'evt-never     Thirty-two characters, exactly!!  2026-12-20 00:00Z  never         -         -                  -      -        -        -           never  in 4h 5m (daily)  ok',
      'evt-ok        Short                             2026-12-06 00:00Z  45s ago       schedule  ok                 -      -        -        -           50s    -                 ok',
      'evt-just-now  Just synced                       2026-12-07 00:00Z  1h ago        manual    ok                 3      7        40       210         0s     -                 ok',
      '',
      '4 syncable event(s): 1 whose last sync failed, 1 overdue',
    ].join('\n');
    assert.equal(formatStatusTable(events, now), expected);
  });

  it('shows one event with its attempts, every outcome labelled, newest first', () => {
    const expected = [
      'EVENT     NAME                              STARTS             LAST ATTEMPT  TRIGGER  OUTCOME            PAGES  CREATED  MATCHED  NO ACCOUNT  AGE    NEXT DUE   STATUS',
      'evt-long  An event whose name is too long…  2026-12-08 18:30Z  2d 2h ago     webhook  failed (provider)  3      7        40       210         3d 2h  now (48h)  FAILED,OVERDUE',
      '',
      'Recent attempts (newest first):',
      'STARTED            TOOK   TRIGGER  OUTCOME                                PAGES  FETCHED  MATCHED  CREATED  REMOVED  SKIPPED  NO ACCOUNT',
      '2026-12-03 09:58Z  90.0s  tier     failed (provider)                      3      250      40       7        1        2        210',
      '2026-12-03 08:00Z  1.3s   tier     failed (unknown)                       3      250      40       7        1        2        210',
      '2026-12-03 07:00Z  0.0s   tier     refused (another sync held the event)  3      250      40       7        1        2        210',
      '2026-12-03 06:00Z  12.3s  tier     interrupted (shutdown; resumes)        3      250      40       7        1        2        210',
      '2026-12-03 05:00Z  0.3s   tier     deferred (Luma asked to wait)          3      250      40       7        1        2        210',
      '2026-12-02 10:00Z  61.0s  tier     ok                                     3      250      40       7        1        2        210',
    ].join('\n');
    assert.equal(formatEventHistory(events[0]!, history, now), expected);
  });

  it('says so when an event has no attempt recorded', () => {
    const expected = [
      'EVENT      NAME                              STARTS             LAST ATTEMPT  TRIGGER  OUTCOME  PAGES  CREATED  MATCHED  NO ACCOUNT  AGE    NEXT DUE          STATUS',
      'evt-never  Thirty-two characters, exactly!!  2026-12-20 00:00Z  never         -        -        -      -        -        -           never  in 4h 5m (daily)  ok',
      '',
      'Recent attempts (newest first):',
      'no sync attempts recorded',
    ].join('\n');
    assert.equal(formatEventHistory(events[1]!, [], now), expected);
  });
});
