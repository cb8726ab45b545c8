/** The providers the directory knows, as in its "ExternalEventProvider" enum. */
export const PROVIDER_TYPES = ['LUMA'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** One guest as a provider reports it, already validated and normalised. */
export interface ExternalGuest {
  /** The provider's guest id, e.g. Luma's `gst-…`. */
  externalGuestId: string;
  /** Trimmed, ASCII letters lower-cased (matching lower-cases the rest in the database); never empty. */
  email: string;
  name: string | null;
  approvalStatus: string;
  registeredAt: string | null;
}

/** One page of guests, handed to the caller before the next page is awaited. */
export interface GuestBatch {
  /** 1-based page number. */
  page: number;
  guests: ExternalGuest[];
  /** Entries on this page without a usable id or email. */
  skipped: number;
  /** The cursor of the next page (a resume checkpoint); null on the last page. */
  nextCursor: string | null;
  /** The guest ids of this page's skipped entries that had one (their email was unusable). */
  skippedGuestIds: string[];
}

export interface GuestFetchOptions {
  eventUid: string;
  externalEventId: string;
  signal?: AbortSignal;
  /**
   * Resume from a checkpoint: read from this cursor, numbering its page `page`, instead of
   * from page 1. Should the provider reject the cursor, the list is read from page 1 (onRestart).
   */
  start?: { cursor: string; page: number };
  /**
   * Called when the provider starts the list again from page 1 (Luma rejected a cursor
   * mid-list, or the `start` cursor): the pages already handed over come again, so
   * per-page tallies restart; after it, the list is read whole from page 1.
   */
  onRestart?: () => void;
}

export interface FetchSummary {
  pages: number;
  /** Usable guests handed to onBatch. */
  fetched: number;
  skipped: number;
  /** Skipped entries without a usable guest id: any synced row of the event could be theirs. */
  unidentified: number;
}

export interface GuestProvider {
  readonly providerType: ProviderType;
  /** False when the provider lacks what it needs to call its API (e.g. an API key). */
  isConfigured(): boolean;
  /**
   * Reads the event's whole approved guest list page by page. Each page is handed to
   * `onBatch`; the next page may already be in flight while onBatch runs, but onBatch
   * calls never overlap. Rejects if any page fails; onBatch errors propagate.
   */
  fetchGuestsInBatches(
    onBatch: (batch: GuestBatch) => Promise<void>,
    options: GuestFetchOptions,
  ): Promise<FetchSummary>;
}
