/**
 * The directory tables the worker reads and writes, as the directory's own Prisma
 * migrations created them: quoted PascalCase tables, quoted camelCase columns,
 * TIMESTAMP(3) WITHOUT TIME ZONE holding UTC. Only the columns the worker touches are
 * declared; the live tables have more. The worker owns only what guest sync added
 * (marked below); migrations/ creates the rest only when it is absent.
 */
import { boolean, integer, jsonb, pgEnum, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { precision: 3, mode: 'date' });
const createdAt = () => ts('createdAt').notNull().defaultNow();
/** No database default: Prisma fills it, so every writer must too. */
const updatedAt = () => ts('updatedAt').notNull();

/** Owned by guest sync. */
export const externalEventProvider = pgEnum('ExternalEventProvider', ['LUMA']);
export const memberApprovalState = pgEnum('MemberApprovalState', ['PENDING', 'APPROVED', 'REJECTED', 'VERIFIED']);
export const teamStatus = pgEnum('TeamStatus', ['ACTIVE', 'INACTIVE']);
export const plEventType = pgEnum('PLEventType', ['INVITE_ONLY', 'VIRTUAL', 'IN_PERSON']);
export const irlGatheringPushRuleKind = pgEnum('IrlGatheringPushRuleKind', ['UPCOMING', 'REMINDER']);
export const pushNotificationCategory = pgEnum('PushNotificationCategory', [
  'DEMO_DAY_LIKE',
  'DEMO_DAY_CONNECT',
  'DEMO_DAY_INVEST',
  'DEMO_DAY_REFERRAL',
  'DEMO_DAY_FEEDBACK',
  'FORUM_POST',
  'FORUM_REPLY',
  'EVENT',
  'SYSTEM',
  'DEMO_DAY_ANNOUNCEMENT',
  'IRL_GATHERING',
  'GUIDE_POST',
  'GUIDE_REPLY',
  'NEW_FEATURE',
  'GANTRY',
  'TEAM_NEWS',
  'AI_APP',
]);
export const imageSize = pgEnum('ImageSize', ['ORIGINAL', 'LARGE', 'MEDIUM', 'SMALL', 'TINY']);

/** Every NOT NULL column without a default is declared, so a writer cannot forget one. */
export const image = pgTable('Image', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  cid: text('cid').notNull(),
  width: integer('width').notNull(),
  height: integer('height').notNull(),
  url: text('url').notNull(),
  filename: text('filename').notNull(),
  size: integer('size').notNull(),
  type: text('type').notNull(),
  version: imageSize('version').notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const member = pgTable('Member', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  name: text('name').notNull(),
  email: text('email').unique(),
  imageUid: text('imageUid'),
  deletedAt: ts('deletedAt'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Keyed by uid: the live table has no id column. */
export const memberApproval = pgTable('MemberApproval', {
  uid: text('uid').primaryKey(),
  memberUid: text('memberUid').notNull().unique(),
  state: memberApprovalState('state').notNull().default('PENDING'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const team = pgTable('Team', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  name: text('name').notNull().unique(),
  status: teamStatus('status').notNull().default('ACTIVE'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * No uid and no timestamps; unique on (memberUid, teamUid); at most one mainTeam per
 * member (the live index "only_one_main_team").
 */
export const teamMemberRole = pgTable('TeamMemberRole', {
  id: serial('id').primaryKey(),
  memberUid: text('memberUid').notNull(),
  teamUid: text('teamUid').notNull(),
  mainTeam: boolean('mainTeam').notNull().default(false),
});

export const plEventLocation = pgTable('PLEventLocation', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  location: text('location').notNull(),
  description: text('description'),
  country: text('country'),
  timezone: text('timezone'),
  latitude: text('latitude'),
  longitude: text('longitude'),
  flag: text('flag'),
  icon: text('icon'),
  resources: jsonb('resources').array(),
  isDeleted: boolean('isDeleted').notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const plEvent = pgTable('PLEvent', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  name: text('name').notNull(),
  slugURL: text('slugURL').notNull().unique(),
  type: plEventType('type'),
  startDate: ts('startDate').notNull(),
  endDate: ts('endDate').notNull(),
  locationUid: text('locationUid'),
  isDeleted: boolean('isDeleted').notNull().default(false),
  websiteURL: text('websiteURL'),
  telegramId: text('telegramId'),
  logoUid: text('logoUid'),
  resources: jsonb('resources').array(),
  /** Owned by guest sync. */
  externalEventProvider: externalEventProvider('externalEventProvider'),
  /** Owned by guest sync: the provider's event id (Luma `evt-…`). */
  externalEventId: text('externalEventId'),
  /** Owned by guest sync: set only after a complete, successful sync. */
  guestLastSyncedAt: ts('guestLastSyncedAt'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const plEventGuest = pgTable('PLEventGuest', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  eventUid: text('eventUid'),
  locationUid: text('locationUid').notNull(),
  memberUid: text('memberUid').notNull(),
  teamUid: text('teamUid'),
  isHost: boolean('isHost').notNull().default(false),
  isSpeaker: boolean('isSpeaker').notNull().default(false),
  isSponsor: boolean('isSponsor').notNull().default(false),
  isFeatured: boolean('isFeatured').notNull().default(false),
  telegramId: text('telegramId'),
  officeHours: text('officeHours'),
  reason: text('reason'),
  topics: text('topics').array(),
  additionalInfo: jsonb('additionalInfo'),
  priority: integer('priority'),
  associationUid: text('associationUid'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  /** Owned by guest sync: the provider's guest id; null on rows the directory created. */
  externalGuestId: text('externalGuestId'),
});

export const irlGatheringPushConfig = pgTable('IrlGatheringPushConfig', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  isActive: boolean('isActive').notNull().default(true),
  enabled: boolean('enabled').notNull().default(true),
  minAttendeesPerEvent: integer('minAttendeesPerEvent').notNull().default(5),
  upcomingWindowDays: integer('upcomingWindowDays').notNull().default(7),
  reminderDaysBefore: integer('reminderDaysBefore').notNull().default(1),
  totalEventsThreshold: integer('totalEventsThreshold').notNull().default(5),
  qualifiedEventsThreshold: integer('qualifiedEventsThreshold').notNull().default(2),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Unique on (ruleKind, eventUid). */
export const irlGatheringPushCandidate = pgTable('IrlGatheringPushCandidate', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  ruleKind: irlGatheringPushRuleKind('ruleKind').notNull(),
  gatheringUid: text('gatheringUid').notNull(),
  eventUid: text('eventUid').notNull(),
  eventStartDate: ts('eventStartDate').notNull(),
  eventEndDate: ts('eventEndDate').notNull(),
  attendeeCount: integer('attendeeCount').notNull(),
  isSuppressed: boolean('isSuppressed').notNull().default(false),
  processedAt: ts('processedAt'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const pushNotification = pgTable('PushNotification', {
  id: serial('id').primaryKey(),
  uid: text('uid').notNull().unique(),
  category: pushNotificationCategory('category').notNull(),
  title: text('title').notNull(),
  description: text('description'),
  metadata: jsonb('metadata').default({}),
  link: text('link'),
  isSent: boolean('isSent').notNull().default(false),
  sentAt: ts('sentAt'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});
