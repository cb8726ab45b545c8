import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, resolveAwsRegion } from '../src/config/config.ts';
import { createSqsClient } from '../src/wiring.ts';
import { runCliProcess } from './support/cli-process.ts';
import { closeServer } from './support/close-server.ts';

// The AWS SDK reads its profile and instance-metadata settings from process.env itself;
// this file runs in a process of its own, so each test sets what it needs here.
const dir = mkdtempSync(path.join(tmpdir(), 'lgs-region-'));
after(() => {
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
});

function isolateSdk(files: { config?: string } = {}) {
  for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
  const configFile = path.join(dir, `config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(configFile, files.config ?? '');
  process.env.AWS_CONFIG_FILE = configFile;
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

async function regionFor(env: Record<string, string>): Promise<string> {
  const sqs = createSqsClient(loadConfig(env));
  try {
    return await resolveAwsRegion(sqs);
  } finally {
    sqs.destroy();
  }
}

describe('the AWS region', () => {
  it('is AWS_REGION when set, over AWS_DEFAULT_REGION and the profile', async () => {
    isolateSdk({ config: '[default]\nregion = ap-south-1\n' });
    assert.equal(await regionFor({ AWS_REGION: 'eu-central-1', AWS_DEFAULT_REGION: 'eu-west-1' }), 'eu-central-1');
  });

  it('is AWS_DEFAULT_REGION when AWS_REGION is unset, as the AWS CLI reads it', async () => {
    isolateSdk({ config: '[default]\nregion = ap-south-1\n' });
    assert.equal(await regionFor({ AWS_DEFAULT_REGION: 'eu-west-1' }), 'eu-west-1');
  });

  it("is the selected profile's region from the shared config file when neither variable is set", async () => {
    isolateSdk({ config: '[default]\nregion = ap-south-1\n[profile ops]\nregion = sa-east-1\n' });
    assert.equal(await regionFor({}), 'ap-south-1');
    process.env.AWS_PROFILE = 'ops';
    assert.equal(await regionFor({}), 'sa-east-1');
  });

  it("is the instance's region from EC2 instance metadata when nothing else names one", async () => {
    isolateSdk();
    const imds = createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('token-1');
      if (req.url === '/latest/meta-data/placement/region' && req.headers['x-aws-ec2-metadata-token'] === 'token-1') {
        return res.end('ca-central-1');
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', resolve));
    after(() => closeServer(imds));
    const { port } = imds.address() as { port: number };
    delete process.env.AWS_EC2_METADATA_DISABLED;
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = `http://127.0.0.1:${port}`;
    assert.equal(await regionFor({}), 'ca-central-1');
  });

  it('that cannot be resolved at all is a configuration error naming where to set one', async () => {
    isolateSdk();
    await assert.rejects(regionFor({}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /AWS_REGION/);
      assert.match(err.message, /AWS_DEFAULT_REGION/);
      assert.match(err.message, /AWS_PROFILE/);
      return true;
    });
  });

  it('must look like a region when set', () => {
    assert.throws(
      () => loadConfig({ AWS_REGION: 'Frankfurt' }),
      /AWS_REGION: must be an AWS region such as "eu-west-1"/,
    );
    assert.throws(() => loadConfig({ AWS_DEFAULT_REGION: 'us east 1' }), /AWS_DEFAULT_REGION: must be an AWS region/);
  });

  it('missing makes enqueue exit 2 with that error before it connects to anything', async () => {
    const run = await runCliProcess(['enqueue'], {
      AWS_REGION: '',
      HOME: dir,
      AWS_CONFIG_FILE: path.join(dir, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      DATABASE_URL: 'postgres://lgs@127.0.0.1:1/directory',
      PL_EVENT_GUEST_SYNC_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo',
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /AWS_REGION: no AWS region found: set AWS_REGION \(or AWS_DEFAULT_REGION\)/);
    assert.equal(run.stdout, '');
  });
});
