// Compatibility suite: the real jsforce 3 client (conn.bulk2) against the
// Bulkstream Bulk API 2.0 emulator.
//
// Run with `bash test/jsforce/run.sh` from the repository root, or against an
// emulator that is already running:
//
//   EMULATOR_URL=http://127.0.0.1:PORT node --test      (in test/jsforce)
//
// Optional: EMULATOR_CLIENT_ID / EMULATOR_CLIENT_SECRET (default bulkstream),
// JSFORCE_PAGE_ROWS (rows inserted by the multi-page query test, default 2500).
//
// What jsforce does on the wire is summarised in
// shared/reference/bulk-api-2.0.md §11.1; result CSVs in §2, row errors in §4.5.
// Every test writes its own records, tagged with a per-run prefix, so the suite
// can be re-run against the same emulator process.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import jsforce from 'jsforce';

const API_VERSION = '62.0';
const POLL = { pollInterval: 200, pollTimeout: 30000 };
const EMULATOR_URL = (process.env.EMULATOR_URL || '').replace(/\/+$/, '');
const CLIENT_ID = process.env.EMULATOR_CLIENT_ID || 'bulkstream';
const CLIENT_SECRET = process.env.EMULATOR_CLIENT_SECRET || 'bulkstream';
const PAGE_ROWS = Number(process.env.JSFORCE_PAGE_ROWS || 2500);

// Unique per run: external ids are unique (case-insensitively) in the org.
const RUN = `jsf${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** @type {import('jsforce').Connection} */
let conn;
let token;

// ---------------------------------------------------------------- helpers

/** 18-char id checksum (reference §9.4). */
function idSuffix(id15) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let flags = 0;
    for (let j = 0; j < 5; j++) {
      const ch = id15[chunk * 5 + j];
      if (ch >= 'A' && ch <= 'Z') flags |= 1 << j;
    }
    suffix += alphabet[flags];
  }
  return suffix;
}

function assertSfId(id, prefix, what = 'id') {
  assert.equal(typeof id, 'string', `${what} is a string`);
  assert.match(id, /^[0-9A-Za-z]{18}$/, `${what} ${JSON.stringify(id)} is 18 alphanumerics`);
  assert.ok(id.startsWith(prefix), `${what} ${id} starts with ${prefix}`);
  assert.equal(id.slice(15), idSuffix(id.slice(0, 15)), `${what} ${id} has a valid 18-char checksum`);
}

function load(options) {
  return conn.bulk2.loadAndWaitForResults({ ...POLL, ...options });
}

/** Runs conn.bulk2.query and collects the record stream. */
async function bulkQuery(soql, options = {}) {
  const stream = await conn.bulk2.query(soql, { ...POLL, ...options });
  return new Promise((resolve, reject) => {
    const records = [];
    stream.on('record', (r) => records.push(r));
    stream.on('end', () => resolve(records));
    stream.on('error', reject);
  });
}

function byField(rows, field) {
  const map = new Map();
  for (const r of rows) map.set(r[field], r);
  return map;
}

const sortBy = (field) => (a, b) => (a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : 0);

/** Inserts Accounts and returns Map(External_Id__c -> 18-char id). */
async function insertAccounts(records) {
  const res = await load({ object: 'Account', operation: 'insert', input: records });
  assert.equal(res.failedResults.length, 0, `fixture insert failed: ${JSON.stringify(res.failedResults)}`);
  assert.equal(res.successfulResults.length, records.length);
  const ids = new Map();
  for (const r of res.successfulResults) ids.set(r.External_Id__c, r.sf__Id);
  return ids;
}

/** Raw HTTP, only where jsforce cannot be used (see the paging test). */
async function raw(method, path, body) {
  const res = await fetch(`${conn.instanceUrl}/services/data/v${API_VERSION}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${conn.accessToken}`,
      ...(body ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res;
}

// ------------------------------------------------------------------ setup

before(async () => {
  assert.ok(
    EMULATOR_URL,
    'EMULATOR_URL is not set: start the emulator and set EMULATOR_URL=http://127.0.0.1:PORT, or run test/jsforce/run.sh',
  );
  const res = await fetch(`${EMULATOR_URL}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
    }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `token endpoint answered ${res.status}: ${text}`);
  token = JSON.parse(text);
  assert.ok(token.access_token, `token response has access_token: ${text}`);
  assert.ok(token.instance_url, `token response has instance_url: ${text}`);
  conn = new jsforce.Connection({
    instanceUrl: token.instance_url,
    accessToken: token.access_token,
    version: API_VERSION,
  });
});

// ------------------------------------------------------------------ tests

describe('OAuth 2.0', () => {
  test('token endpoint: client credentials give a bearer token and the emulator as instance_url', () => {
    assert.equal(token.instance_url.replace(/\/+$/, ''), EMULATOR_URL);
    assert.equal(String(token.token_type).toLowerCase(), 'bearer');
  });

  test('jsforce OAuth2 client: conn.authorize({grant_type: "client_credentials"})', async () => {
    const c = new jsforce.Connection({
      oauth2: { loginUrl: EMULATOR_URL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      version: API_VERSION,
    });
    // jsforce splits the token response's `id` (identity URL, .../id/<00D…>/<005…>)
    // into organizationId and user id (reference §8.2).
    const userInfo = await c.authorize({ grant_type: 'client_credentials' });
    assert.ok(c.accessToken, 'access token set');
    assert.equal(c.instanceUrl.replace(/\/+$/, ''), EMULATOR_URL);
    assert.ok(userInfo.organizationId.startsWith('00D'), `organizationId ${userInfo.organizationId}`);
    assert.ok(userInfo.id.startsWith('005'), `user id ${userInfo.id}`);
  });

  test('wrong client secret is refused with an OAuth error', async () => {
    const c = new jsforce.Connection({
      oauth2: { loginUrl: EMULATOR_URL, clientId: CLIENT_ID, clientSecret: `${CLIENT_SECRET}-wrong` },
      version: API_VERSION,
    });
    await assert.rejects(c.authorize({ grant_type: 'client_credentials' }), (err) => {
      assert.match(err.name, /^invalid_(grant|client)/, `error name ${err.name}: ${err.message}`);
      return true;
    });
  });

  test('an invalid access token gives HttpApiError INVALID_SESSION_ID', async () => {
    const bad = new jsforce.Connection({
      instanceUrl: token.instance_url,
      accessToken: 'not-a-valid-token',
      version: API_VERSION,
    });
    await assert.rejects(
      bad.bulk2.loadAndWaitForResults({
        ...POLL,
        object: 'Account',
        operation: 'insert',
        input: [{ Name: `${RUN} never` }],
      }),
      (err) => {
        assert.equal(err.name, 'INVALID_SESSION_ID', `${err.name}: ${err.message}`);
        return true;
      },
    );
  });
});

describe('ingest', () => {
  test('insert Accounts: good rows succeed, rows without Name fail with REQUIRED_FIELD_MISSING', async () => {
    const input = [
      { Name: `${RUN} ins A`, External_Id__c: `${RUN}-ins-1`, Industry: 'Banking', NumberOfEmployees: 10 },
      { Name: '', External_Id__c: `${RUN}-ins-bad-empty`, Industry: 'Banking', NumberOfEmployees: 11 },
      { Name: `${RUN} ins B, "quoted"`, External_Id__c: `${RUN}-ins-2`, Industry: 'Energy', NumberOfEmployees: 12 },
      // jsforce serialises null as #N/A, which means "set to null" (reference §6).
      { Name: null, External_Id__c: `${RUN}-ins-bad-null`, Industry: 'Energy', NumberOfEmployees: 13 },
      { Name: `${RUN} ins C`, External_Id__c: `${RUN}-ins-3`, Industry: 'Retail', NumberOfEmployees: 14 },
    ];
    const res = await load({ object: 'Account', operation: 'insert', input });

    assert.equal(res.successfulResults.length, 3, JSON.stringify(res.successfulResults));
    assert.equal(res.failedResults.length, 2, JSON.stringify(res.failedResults));
    assert.deepEqual(res.unprocessedRecords, []);

    const ok = byField(res.successfulResults, 'External_Id__c');
    const ids = new Set();
    for (const src of [input[0], input[2], input[4]]) {
      const row = ok.get(src.External_Id__c);
      assert.ok(row, `successful row for ${src.External_Id__c}`);
      assertSfId(row.sf__Id, '001', 'sf__Id');
      assert.equal(row.sf__Created, 'true');
      assert.equal(row.Name, src.Name);
      assert.equal(row.Industry, src.Industry);
      assert.equal(row.NumberOfEmployees, String(src.NumberOfEmployees));
      ids.add(row.sf__Id);
    }
    assert.equal(ids.size, 3, 'distinct ids');
    // Result columns: sf__ columns first, then the uploaded header.
    assert.deepEqual(Object.keys(res.successfulResults[0]), [
      'sf__Id', 'sf__Created', 'Name', 'External_Id__c', 'Industry', 'NumberOfEmployees',
    ]);

    const failed = byField(res.failedResults, 'External_Id__c');
    for (const key of [`${RUN}-ins-bad-empty`, `${RUN}-ins-bad-null`]) {
      const row = failed.get(key);
      assert.ok(row, `failed row for ${key}`);
      assert.equal(row.sf__Id, '');
      assert.ok(row.sf__Error.startsWith('REQUIRED_FIELD_MISSING'), row.sf__Error);
      assert.equal(row.sf__Error, 'REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --');
    }
    assert.deepEqual(Object.keys(res.failedResults[0]), [
      'sf__Id', 'sf__Error', 'Name', 'External_Id__c', 'Industry', 'NumberOfEmployees',
    ]);
  });

  test('ingest job step by step (createJob/open/uploadData/close/poll): job info as the sf CLI reads it', async () => {
    const job = conn.bulk2.createJob({ object: 'Account', operation: 'insert' });
    const opened = await job.open();
    assertSfId(job.id, '750', 'job id');
    assert.equal(opened.state, 'Open');
    assert.equal(opened.object, 'Account');
    assert.equal(opened.operation, 'insert');
    await job.uploadData(`Name,External_Id__c\n${RUN} step 1,${RUN}-step-1\n,${RUN}-step-bad\n`);
    await job.close();
    assert.ok(['UploadComplete', 'InProgress', 'JobComplete'].includes(job.getInfo().state), job.getInfo().state);
    await job.poll(POLL.pollInterval, POLL.pollTimeout);
    const info = job.getInfo();
    assert.equal(info.state, 'JobComplete');
    assert.equal(info.id, job.id);
    assert.equal(Number(info.numberRecordsProcessed), 2);
    assert.equal(Number(info.numberRecordsFailed), 1);
    const res = await job.getAllResults();
    assert.equal(res.successfulResults.length, 1);
    assert.equal(res.failedResults.length, 1);
    assert.equal(res.successfulResults[0].External_Id__c, `${RUN}-step-1`);
    assert.equal(res.failedResults[0].External_Id__c, `${RUN}-step-bad`);
  });

  test('upsert on External_Id__c (CSV input): existing keys update, new keys insert, a bad row fails', async () => {
    const ids = await insertAccounts([
      { Name: `${RUN} ups old 1`, External_Id__c: `${RUN}-ups-1`, Industry: 'Banking' },
      { Name: `${RUN} ups old 2`, External_Id__c: `${RUN}-ups-2`, Industry: 'Banking' },
    ]);
    const csv = [
      'External_Id__c,Name,Industry',
      `${RUN}-ups-1,${RUN} ups new 1,Energy`,
      // External ids match case-insensitively.
      `${RUN.toUpperCase()}-UPS-2,${RUN} ups new 2,Energy`,
      `${RUN}-ups-3,${RUN} ups new 3,Retail`,
      // New key without Name: the insert path needs Name.
      `${RUN}-ups-bad,,Retail`,
      '',
    ].join('\n');
    const res = await load({
      object: 'Account',
      operation: 'upsert',
      externalIdFieldName: 'External_Id__c',
      input: csv,
    });
    assert.equal(res.successfulResults.length, 3, JSON.stringify(res.successfulResults));
    assert.equal(res.failedResults.length, 1, JSON.stringify(res.failedResults));

    const ok = byField(res.successfulResults, 'Name');
    const u1 = ok.get(`${RUN} ups new 1`);
    const u2 = ok.get(`${RUN} ups new 2`);
    const c3 = ok.get(`${RUN} ups new 3`);
    assert.ok(u1 && u2 && c3, JSON.stringify(res.successfulResults));
    assert.equal(u1.sf__Created, 'false');
    assert.equal(u1.sf__Id, ids.get(`${RUN}-ups-1`));
    assert.equal(u2.sf__Created, 'false');
    assert.equal(u2.sf__Id, ids.get(`${RUN}-ups-2`));
    assert.equal(c3.sf__Created, 'true');
    assertSfId(c3.sf__Id, '001', 'sf__Id');

    const bad = res.failedResults[0];
    assert.equal(bad.External_Id__c, `${RUN}-ups-bad`);
    assert.equal(bad.sf__Id, '');
    assert.ok(bad.sf__Error.startsWith('REQUIRED_FIELD_MISSING'), bad.sf__Error);

    const rows = await bulkQuery(
      `SELECT Id, Name, Industry, External_Id__c FROM Account WHERE External_Id__c LIKE '${RUN}-ups-%'`,
    );
    assert.deepEqual(
      rows.map((r) => ({ Id: r.Id, Name: r.Name, Industry: r.Industry })).sort(sortBy('Name')),
      [
        { Id: ids.get(`${RUN}-ups-1`), Name: `${RUN} ups new 1`, Industry: 'Energy' },
        { Id: ids.get(`${RUN}-ups-2`), Name: `${RUN} ups new 2`, Industry: 'Energy' },
        { Id: c3.sf__Id, Name: `${RUN} ups new 3`, Industry: 'Retail' },
      ],
    );
  });

  test('upsert from record objects (jsforce adds an empty Id column)', async () => {
    // For upsert jsforce writes `{ Id, ...record }`, so the CSV it uploads is
    // "Id,External_Id__c,Name" with empty Id values: blank means "ignore".
    const ids = await insertAccounts([{ Name: `${RUN} upr old`, External_Id__c: `${RUN}-upr-1` }]);
    const res = await load({
      object: 'Account',
      operation: 'upsert',
      externalIdFieldName: 'External_Id__c',
      input: [
        { External_Id__c: `${RUN}-upr-1`, Name: `${RUN} upr new 1` },
        { External_Id__c: `${RUN}-upr-2`, Name: `${RUN} upr new 2` },
      ],
    });
    assert.equal(res.failedResults.length, 0, JSON.stringify(res.failedResults));
    const ok = byField(res.successfulResults, 'External_Id__c');
    assert.equal(ok.get(`${RUN}-upr-1`).sf__Created, 'false');
    assert.equal(ok.get(`${RUN}-upr-1`).sf__Id, ids.get(`${RUN}-upr-1`));
    assert.equal(ok.get(`${RUN}-upr-2`).sf__Created, 'true');
    assertSfId(ok.get(`${RUN}-upr-2`).sf__Id, '001', 'sf__Id');
  });

  test('update by Id: known ids succeed, unknown and malformed ids fail', async () => {
    const ids = await insertAccounts([
      { Name: `${RUN} upd 1`, External_Id__c: `${RUN}-upd-1`, Industry: 'Banking', Phone: '555-0100' },
      { Name: `${RUN} upd 2`, External_Id__c: `${RUN}-upd-2`, Industry: 'Banking', Phone: '555-0200' },
    ]);
    const id1 = ids.get(`${RUN}-upd-1`);
    const id2 = ids.get(`${RUN}-upd-2`);
    // Unknown: same key prefix and instance part as an id the emulator issued,
    // a counter it has not reached, a valid checksum.
    const unknown15 = `${id1.slice(0, 6)}zzzzzzzzz`;
    const unknown = unknown15 + idSuffix(unknown15);
    // Well-formed, but from another instance (pod 000): Salesforce's answer for
    // such an id is not documented; either error code is accepted.
    const foreign = `001000000000000${idSuffix('001000000000000')}`;
    const malformed = 'not-an-id';
    const res = await load({
      object: 'Account',
      operation: 'update',
      input: [
        { Id: id1, Industry: 'Energy', Phone: '' }, // empty = leave unchanged
        { Id: id2, Industry: 'Retail', Phone: null }, // null (#N/A) = clear
        { Id: unknown, Industry: 'Energy', Phone: '' },
        { Id: foreign, Industry: 'Energy', Phone: '' },
        { Id: malformed, Industry: 'Energy', Phone: '' },
      ],
    });
    assert.equal(res.successfulResults.length, 2, JSON.stringify(res.successfulResults));
    assert.equal(res.failedResults.length, 3, JSON.stringify(res.failedResults));
    for (const row of res.successfulResults) {
      assert.ok([id1, id2].includes(row.sf__Id), row.sf__Id);
      assert.equal(row.sf__Created, 'false');
      assert.equal(row.Id, row.sf__Id);
    }
    const failed = byField(res.failedResults, 'Id');
    assert.ok(failed.get(unknown), `failed row for ${unknown}: ${JSON.stringify(res.failedResults)}`);
    assert.equal(failed.get(unknown).sf__Error, 'INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--');
    assert.ok(failed.get(foreign), `failed row for ${foreign}: ${JSON.stringify(res.failedResults)}`);
    assert.match(failed.get(foreign).sf__Error, /^(INVALID_CROSS_REFERENCE_KEY|MALFORMED_ID):/);
    assert.ok(failed.get(malformed), `failed row for ${malformed}: ${JSON.stringify(res.failedResults)}`);
    assert.match(failed.get(malformed).sf__Error, /^MALFORMED_ID:/);
    for (const row of res.failedResults) {
      assert.match(row.sf__Error, /^[A-Z_]+:.*--$/, `sf__Error format (§4.5): ${row.sf__Error}`);
    }

    const rows = await bulkQuery(
      `SELECT Id, Name, Industry, Phone FROM Account WHERE External_Id__c LIKE '${RUN}-upd-%'`,
    );
    assert.deepEqual(rows.map((r) => ({ ...r })).sort(sortBy('Name')), [
      { Id: id1, Name: `${RUN} upd 1`, Industry: 'Energy', Phone: '555-0100' },
      { Id: id2, Name: `${RUN} upd 2`, Industry: 'Retail', Phone: '' },
    ]);
  });

  test('delete by Id succeeds; deleting again fails with ENTITY_IS_DELETED', async () => {
    const ids = await insertAccounts([
      { Name: `${RUN} del 1`, External_Id__c: `${RUN}-del-1` },
      { Name: `${RUN} del 2`, External_Id__c: `${RUN}-del-2` },
    ]);
    // jsforce sends only the Id column for delete.
    const input = [...ids.values()].map((Id) => ({ Id, Name: 'ignored by jsforce' }));
    const first = await load({ object: 'Account', operation: 'delete', input });
    assert.equal(first.failedResults.length, 0, JSON.stringify(first.failedResults));
    assert.equal(first.successfulResults.length, 2);
    for (const row of first.successfulResults) {
      assert.ok([...ids.values()].includes(row.sf__Id), row.sf__Id);
      assert.equal(row.sf__Created, 'false');
      assert.deepEqual(Object.keys(row), ['sf__Id', 'sf__Created', 'Id']);
    }

    const again = await load({ object: 'Account', operation: 'delete', input });
    assert.equal(again.successfulResults.length, 0, JSON.stringify(again.successfulResults));
    assert.equal(again.failedResults.length, 2, JSON.stringify(again.failedResults));
    for (const row of again.failedResults) {
      assert.ok([...ids.values()].includes(row.Id), row.Id);
      assert.ok(row.sf__Error.startsWith('ENTITY_IS_DELETED'), row.sf__Error);
    }
  });

  test('Contacts with an Account.External_Id__c relationship column', async () => {
    const parents = await insertAccounts([{ Name: `${RUN} parent`, External_Id__c: `${RUN}-parent` }]);
    const parentId = parents.get(`${RUN}-parent`);
    // The relationship column is a flat key. (A nested { Account: { External_Id__c } }
    // makes jsforce 3 upload both "Account.External_Id__c" and a JSON "Account"
    // column, which Salesforce rejects: InvalidBatch : Field name not found : Account.)
    const res = await load({
      object: 'Contact',
      operation: 'insert',
      input: [
        {
          LastName: `${RUN} child ok`,
          FirstName: 'Ada',
          Email: `${RUN}.ok@example.com`,
          External_Id__c: `${RUN}-c-ok`,
          'Account.External_Id__c': `${RUN}-parent`,
        },
        {
          LastName: `${RUN} child orphan`,
          FirstName: 'Bob',
          Email: `${RUN}.orphan@example.com`,
          External_Id__c: `${RUN}-c-orphan`,
          'Account.External_Id__c': `${RUN}-no-such-parent`,
        },
        {
          // Case-insensitive match on the parent's external id.
          LastName: `${RUN} child upper`,
          FirstName: 'Cy',
          Email: `${RUN}.upper@example.com`,
          External_Id__c: `${RUN}-c-upper`,
          'Account.External_Id__c': `${RUN}-PARENT`.toUpperCase(),
        },
      ],
    });
    assert.equal(res.successfulResults.length, 2, JSON.stringify(res.successfulResults));
    assert.equal(res.failedResults.length, 1, JSON.stringify(res.failedResults));
    assert.deepEqual(Object.keys(res.successfulResults[0]), [
      'sf__Id', 'sf__Created', 'LastName', 'FirstName', 'Email', 'External_Id__c', 'Account.External_Id__c',
    ]);
    const ok = byField(res.successfulResults, 'External_Id__c');
    for (const key of [`${RUN}-c-ok`, `${RUN}-c-upper`]) {
      assert.ok(ok.get(key), `successful row for ${key}`);
      assertSfId(ok.get(key).sf__Id, '003', 'Contact sf__Id');
      assert.equal(ok.get(key).sf__Created, 'true');
    }
    const orphan = res.failedResults[0];
    assert.equal(orphan.External_Id__c, `${RUN}-c-orphan`);
    assert.equal(orphan['Account.External_Id__c'], `${RUN}-no-such-parent`);
    assert.equal(orphan.sf__Id, '');
    // Salesforce: "INVALID_FIELD:Foreign key external ID: <v> not found for field External_Id__c in entity Account:--"
    assert.match(orphan.sf__Error, /^[A-Z_]+:.*Foreign key external ID.*not found/i, orphan.sf__Error);

    const rows = await bulkQuery(
      `SELECT Id, LastName, AccountId FROM Contact WHERE External_Id__c LIKE '${RUN}-c-%'`,
    );
    assert.equal(rows.length, 2, JSON.stringify(rows));
    for (const r of rows) assert.equal(r.AccountId, parentId, JSON.stringify(r));
  });

  test('nested relationship object: jsforce adds a JSON "Account" column, the job fails as in Salesforce', async () => {
    await assert.rejects(
      load({
        object: 'Contact',
        operation: 'insert',
        input: [{ LastName: `${RUN} nested`, Account: { External_Id__c: `${RUN}-parent` } }],
      }),
      (err) => {
        assert.ok(err.message.includes('InvalidBatch : Field name not found : Account'), `message: ${err.message}`);
        return true;
      },
    );
  });

  test('job-level failure: an unknown column fails the job with InvalidBatch : Field name not found', async () => {
    await assert.rejects(
      load({
        object: 'Account',
        operation: 'insert',
        input: [{ Name: `${RUN} bogus`, Bogus__c: 'x' }],
      }),
      (err) => {
        assert.ok(
          err.message.includes('InvalidBatch : Field name not found : Bogus__c'),
          `message: ${err.message}`,
        );
        return true;
      },
    );
  });

  test('job creation error: unknown object is a 400 INVALIDJOB error (JSON array envelope)', async () => {
    await assert.rejects(
      load({ object: 'NoSuchObject__c', operation: 'insert', input: [{ Name: 'x' }] }),
      (err) => {
        assert.equal(err.name, 'INVALIDJOB', `${err.name}: ${err.message}`);
        assert.match(err.message, /Unable to find object: NoSuchObject__c/);
        return true;
      },
    );
  });
});

describe('query', () => {
  test('bulk2.query returns the matching rows with the selected columns in order', async () => {
    const input = [
      { Name: `${RUN} q 1`, External_Id__c: `${RUN}-q-1`, Website: 'https://one.example.com' },
      { Name: `${RUN} q 2, "two"`, External_Id__c: `${RUN}-q-2`, Website: '' },
      { Name: `${RUN} q 3`, External_Id__c: `${RUN}-q-3`, Website: 'https://three.example.com' },
    ];
    const ids = await insertAccounts(input);
    await insertAccounts([{ Name: `${RUN} other`, External_Id__c: `${RUN}-other-1` }]);

    const rows = await bulkQuery(
      `SELECT Id, Name, External_Id__c, Website FROM Account WHERE External_Id__c LIKE '${RUN}-q-%'`,
    );
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.deepEqual(Object.keys(rows[0]), ['Id', 'Name', 'External_Id__c', 'Website']);
    assert.deepEqual(
      rows.map((r) => ({ ...r })).sort(sortBy('External_Id__c')),
      input.map((r) => ({ Id: ids.get(r.External_Id__c), ...r })),
    );

    const one = await bulkQuery(
      `SELECT Id, Name FROM Account WHERE External_Id__c = '${RUN}-q-2'`,
    );
    assert.deepEqual(one.map((r) => ({ ...r })), [{ Id: ids.get(`${RUN}-q-2`), Name: `${RUN} q 2, "two"` }]);

    const none = await bulkQuery(
      `SELECT Id, Name FROM Account WHERE External_Id__c = '${RUN}-q-none'`,
    );
    assert.deepEqual(none, []);
  });

  test('scanAll: true (queryAll) returns deleted rows, plain query does not', async () => {
    const ids = await insertAccounts([
      { Name: `${RUN} qa keep`, External_Id__c: `${RUN}-qa-keep` },
      { Name: `${RUN} qa gone`, External_Id__c: `${RUN}-qa-gone` },
    ]);
    const gone = ids.get(`${RUN}-qa-gone`);
    const del = await load({ object: 'Account', operation: 'delete', input: [{ Id: gone }] });
    assert.equal(del.successfulResults.length, 1, JSON.stringify(del));

    const soql = `SELECT Id, Name FROM Account WHERE External_Id__c LIKE '${RUN}-qa-%'`;
    const live = await bulkQuery(soql);
    assert.deepEqual(live.map((r) => r.Id), [ids.get(`${RUN}-qa-keep`)]);

    const all = await bulkQuery(soql, { scanAll: true });
    assert.deepEqual(all.map((r) => r.Id).sort(), [...ids.values()].sort());
  });

  test(`a result of ${PAGE_ROWS} rows (several pages if the emulator pages by default)`, async (t) => {
    const input = [];
    for (let i = 0; i < PAGE_ROWS; i++) {
      input.push({ Name: `${RUN} page ${String(i).padStart(5, '0')}`, External_Id__c: `${RUN}-pg-${i}` });
    }
    const ins = await load({ object: 'Account', operation: 'insert', input });
    assert.equal(ins.successfulResults.length, PAGE_ROWS);
    assert.equal(ins.failedResults.length, 0);
    const soql = `SELECT Id, Name FROM Account WHERE External_Id__c LIKE '${RUN}-pg-%'`;

    // jsforce never sends maxRecords, so only the emulator's default page size
    // matters. Probe it first with the same requests jsforce makes.
    const created = await raw('POST', '/jobs/query', { operation: 'query', query: soql });
    assert.equal(created.status, 200, await created.clone().text());
    const jobId = (await created.json()).id;
    for (let i = 0; ; i++) {
      const info = await (await raw('GET', `/jobs/query/${jobId}`)).json();
      if (info.state === 'JobComplete') break;
      assert.ok(['UploadComplete', 'InProgress'].includes(info.state), JSON.stringify(info));
      assert.ok(i < 150, 'query job completes within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const first = await raw('GET', `/jobs/query/${jobId}/results`);
    assert.equal(first.status, 200);
    const locator = first.headers.get('sforce-locator');
    const firstCount = first.headers.get('sforce-numberofrecords');
    await first.text();
    await raw('DELETE', `/jobs/query/${jobId}`);
    assert.ok(locator !== null, 'Sforce-Locator header present (jsforce loops forever without it)');
    assert.match(String(firstCount), /^\d+$/, 'Sforce-NumberOfRecords present');

    if (locator !== 'null') {
      // jsforce 3.x pipes every page into one stream that the first page ends:
      // a second page crashes the process with ERR_STREAM_WRITE_AFTER_END
      // (jsforce issue #1546), so the record stream cannot be checked here.
      t.diagnostic(`emulator pages by default: ${firstCount} of ${PAGE_ROWS} rows on the first page`);
      t.skip(`emulator pages by default at ${firstCount} rows; jsforce 3 bulk2.query cannot read more than one page`);
      return;
    }
    t.diagnostic(`emulator returned all ${firstCount} rows on one page (no default paging)`);
    const rows = await bulkQuery(soql);
    assert.equal(rows.length, PAGE_ROWS);
    const got = new Set(rows.map((r) => r.Id));
    assert.equal(got.size, PAGE_ROWS);
    for (const r of ins.successfulResults) assert.ok(got.has(r.sf__Id), r.sf__Id);
  });
});
