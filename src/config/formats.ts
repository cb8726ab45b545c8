/**
 * The value formats of the configuration schema (config.ts). Each validator throws a
 * message that says what is expected; convict names the variable.
 */
import cron from 'node-cron';
import { parseDatabaseUrl } from '../db/database-url.ts';

export const strictBoolean = {
  name: 'strict-boolean',
  validate(value: unknown) {
    if (typeof value !== 'boolean') throw new Error('must be "true" or "false"');
  },
  coerce(value: unknown) {
    if (typeof value === 'boolean') return value;
    const text = String(value).trim().toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0' || text === '') return false;
    return value; // left as a string so validate() names it
  },
};

export const cronExpression = {
  name: 'cron',
  validate(value: unknown) {
    const detail = cron.validateDetailed(String(value));
    if (!detail.valid) {
      const why = detail.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      throw new Error(`must be a cron expression such as "0 3 * * *"${why ? ` (${why})` : ''}`);
    }
  },
};

export const httpUrl = (optional: boolean) => ({
  validate(value: unknown) {
    if (optional && value === '') return;
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw new Error('must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be an absolute http(s) URL');
  },
});

/**
 * A queue URL is checked by shape only: local SQS servers hand out hosts such as
 * `sqs.us-east-1.127.0.0.1:4566` that the WHATWG URL parser rejects, and the SDK sends
 * requests to the configured endpoint anyway.
 */
export const queueUrl = (options: { fifo: boolean }) => ({
  validate(value: unknown) {
    if (value === '') return;
    if (!/^https?:\/\/[^\s/]+\/\S+$/.test(String(value))) {
      throw new Error('must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/name.fifo');
    }
    // Every message carries a group and a deduplication id, which a standard queue rejects.
    if (options.fifo && !String(value).endsWith('.fifo')) throw new Error('must name a FIFO queue (ending in ".fifo")');
  },
});

/** Read as libpq reads it (db/database-url.ts); the messages never hold the password. */
export const postgresUrl = {
  validate(value: unknown) {
    if (value === '') return;
    parseDatabaseUrl(String(value));
  },
};

/** A region's shape only ("eu-west-1"): which regions exist is AWS's to say. */
export const awsRegion = {
  validate(value: unknown) {
    if (value === '') return;
    if (!/^[a-z]{2,}(-[a-z0-9]+)+$/.test(String(value))) throw new Error('must be an AWS region such as "eu-west-1"');
  },
};

export const positiveInt = (max: number) => ({
  validate(value: unknown) {
    if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
      throw new Error(`must be a whole number from 1 to ${max}`);
    }
  },
});

export const nonNegativeInt = (max: number) => ({
  validate(value: unknown) {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) {
      throw new Error(`must be a whole number from 0 to ${max}`);
    }
  },
});

export const share = {
  validate(value: unknown) {
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || value > 1) {
      throw new Error('must be a number greater than 0 and at most 1');
    }
  },
};

export const intCoerce = {
  coerce: (v: unknown) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
};
export const numCoerce = {
  coerce: (v: unknown) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v),
};
