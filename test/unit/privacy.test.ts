// What must never be stored: excluded, huge and binary files, and secrets in any form the
// user may type them. The expected texts spell the marker out ('[REDACTED]'), so a redaction
// that removed secrets by writing nothing, or something else, fails here.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CaptureSink, defaultCaptureOptions, DocumentCapture } from '../../server/src/capture/document-capture';
import { defaultMaxFileBytes, looksBinary, PrivacyFilter } from '../../server/src/capture/privacy';
import { FRAGMENT_CHARS, fragmentProbes, looksLikeToken, Redaction, redactSecrets, SecretLedger, textKind } from '../../server/src/edits/redaction';

const R = '[REDACTED]';

describe('which files are captured', () => {
  const filter = new PrivacyFilter({ exclude: ['**/private/**'], maxFileBytes: 1000, excludeFolders: ['/home/u/.local/share/gapo-assistant/'] });
  const reason = (path: string, text = 'const a = 1;\n') => filter.skipReason(`file://${path}`, path, text);

  it('excludes the default secret files, dot folders included, in any case', () => {
    for (const path of [
      '/w/.env',
      '/w/.env.local',
      '/w/config/.env.production',
      '/w/tls/server.pem',
      '/w/tls/server.key',
      '/w/secrets/db.ts',
      '/home/u/.ssh/id_rsa',
      '/home/u/.ssh/config',
      '/home/u/.aws/credentials',
      '/w/.aws/secrets/prod.json',
      '/home/u/.gnupg/pubring.kbx',
      '/home/u/.netrc',
      '/home/u/.git-credentials',
      '/home/u/.pgpass',
      '/w/keys/id_ed25519',
      '/w/keys/id_ecdsa.pub',
      '/w/certs/client.p12',
      '/w/certs/client.pfx',
      '/w/app.jks',
      '/w/release.keystore',
      '/w/.ENV',
      '/w/TLS/SERVER.PEM',
    ]) {
      assert.equal(reason(path), 'excluded', path);
    }
  });

  it("excludes the user's globs and folders the server owns, and nothing beside them", () => {
    assert.equal(reason('/w/private/x.ts'), 'excluded');
    assert.equal(reason('/w/.private/x.ts'), null, 'a glob names its folder exactly');
    assert.equal(reason('/home/u/.local/share/gapo-assistant/collected-data.jsonl'), 'excluded');
    assert.equal(reason('/home/u/.local/share/gapo-assistant'), 'excluded');
    assert.equal(reason('/home/u/.local/share/gapo-assistant-old/a.ts'), null, 'a sibling folder with a longer name is not inside');
    assert.equal(reason('/w/src/environment.ts'), null);
    assert.equal(reason('/w/src/keyboard.ts'), null);
    assert.equal(reason('/w/src/secrets.ts'), null, 'only a folder named secrets is excluded');
    const windows = new PrivacyFilter({ exclude: [], maxFileBytes: 1000, excludeFolders: ['C:\\Users\\u\\gapo\\'] });
    assert.equal(windows.excludedPath('C:\\Users\\u\\gapo\\collected-data.jsonl'), true);
    assert.equal(windows.excludedPath('C:\\Users\\u\\gapo-old\\a.ts'), false);
    assert.equal(windows.excludedPath('C:\\w\\.env'), true, 'Windows paths meet the globs with forward slashes');
    assert.equal(windows.excludedPath('C:\\w\\tls\\server.pem'), true);
    filter.excludeFolder('/tmp/exports/');
    assert.equal(reason('/tmp/exports/a.jsonl'), 'excluded', 'a folder given with its trailing slash');
    filter.excludeFolder('/tmp/export.jsonl');
    assert.equal(reason('/tmp/export.jsonl'), 'excluded');
    assert.equal(reason('/tmp/export.jsonl.bak'), null);
  });

  it('skips documents that are not files, with or without a path', () => {
    assert.equal(filter.skipReason('untitled:Untitled-1', null, 'x'), 'not a file');
    assert.equal(filter.skipReason('vscode-remote://ssh/w/a.ts', '/w/a.ts', 'x'), 'not a file');
    assert.equal(filter.skipReason('file:///w/a.ts', null, 'x'), 'not a file');
  });

  it('measures size in UTF-8 bytes, up to the limit inclusive', () => {
    assert.equal(defaultMaxFileBytes, 1024 * 1024, 'the README promises 1 MiB');
    assert.equal(reason('/w/a.ts', 'x'.repeat(1000)), null);
    assert.equal(reason('/w/a.ts', 'x'.repeat(1001)), 'too large');
    assert.equal(reason('/w/a.ts', 'é'.repeat(500)), null, '1000 bytes');
    assert.equal(reason('/w/a.ts', 'é'.repeat(501)), 'too large', '1002 bytes in 501 characters');
    assert.equal(filter.contentReason('€'.repeat(334)), 'too large', '1002 bytes in 334 characters');
    assert.equal(filter.contentReason('€'.repeat(333)), null);
    assert.equal(filter.changeReason('x'.repeat(1001), ['x']), 'too large', 'the size of the whole text, after every change');
    assert.equal(filter.changeReason('x'.repeat(999) + '\0', ['\0']), 'binary', 'binary text pasted in');
    assert.equal(filter.changeReason('\0' + 'x'.repeat(10), ['x']), null, 'only what came in is scanned');
  });

  it('recognises binary text by a NUL or many replacement characters near the start', () => {
    assert.equal(reason('/w/blob.ts', 'ab\0cd'), 'binary');
    assert.equal(filter.contentReason('\0'), 'binary');
    assert.equal(looksBinary('\uFFFD'.repeat(2) + 'x'.repeat(17)), true, '2 in 19 is over 10%');
    assert.equal(looksBinary('\uFFFD'.repeat(1) + 'x'.repeat(9)), false, 'exactly 10% is text');
    assert.equal(looksBinary('x'.repeat(8192) + '\0'), false, 'only the first 8 kB are read');
    assert.equal(looksBinary('x'.repeat(8191) + '\0'), true);
    assert.equal(looksBinary(''), false);
    assert.equal(looksBinary('naïve café ✓'), false);
  });
});

describe('redacting secrets', () => {
  // [path, text, expected]: one case (at least) per format the README promises.
  const cases: [string, string, string][] = [
    ['a.ts', 'const key = "AKIAIOSFODNN7EXAMPLE";', `const key = "${R}";`],
    ['a.ts', 'const id = ASIAY34FZKBOKMUTVV7A', `const id = ${R}`],
    ['a.ts', 'const gh = ghp_abcdefghijklmnopqrstuvwxyz0123456789;', `const gh = ${R};`],
    ['a.ts', 'x(gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789)', `x(${R})`],
    ['a.ts', 'pat github_pat_11ABCDEFG0123456789_abcdefghijklmnop end', `pat ${R} end`],
    ['a.ts', "gitlab('glpat-AbCdEfGhIjKlMnOpQrSt')", `gitlab('${R}')`],
    ['a.ts', 'slack xoxb-123456789012-abcdefghijkl end', `slack ${R} end`],
    ['a.ts', 'post("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")', `post("https://hooks.slack.com/services/${R}")`],
    ['a.ts', 'openai sk-abcdefghijklmnopqrstuvwxyz012345 end', `openai ${R} end`],
    ['a.ts', 'openai sk-proj-abcdefghijklmnopqrstuvwx-_yz end', `openai ${R} end`],
    ['a.ts', 'claude sk-ant-api03-abcdefghijklmnopqrstuvwxyz-AAAA end', `claude ${R} end`],
    ['a.ts', 'maps AIzaSyA1234567890abcdefghijklmnopqrstuv end', `maps ${R} end`],
    ['a.ts', 'oauth GOCSPX-abcdefghijklmnopqrstuvwx12 end', `oauth ${R} end`],
    ['a.ts', 'access ya29.a0AfH6SMBabcdefghijklmnopqrstu end', `access ${R} end`],
    ['a.ts', 'stripe sk_live_abcdefghijklmnop1234 and rk_test_ABCDEFGHIJKLMNOP1234', `stripe ${R} and ${R}`],
    ['a.ts', 'hook whsec_abcdefghijklmnopqrstuvwxyz12 end', `hook ${R} end`],
    ['a.ts', 'npm npm_abcdefghijklmnopqrstuvwxyz0123456789 end', `npm ${R} end`],
    ['a.ts', 'hf hf_abcdefghijklmnopqrstuvwxyzABCDEFGH end', `hf ${R} end`],
    ['a.ts', 'mail SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 end', `mail ${R} end`],
    ['a.ts', 'twilio SK0123456789abcdef0123456789abcdef end', `twilio ${R} end`],
    ['a.ts', `do dop_v1_${'a1'.repeat(32)} end`, `do ${R} end`],
    ['a.ts', 'shop shpat_0123456789abcdef0123456789abcdef end', `shop ${R} end`],
    ['a.ts', `pypi pypi-AgEIcHlwaS5vcmc${'x'.repeat(60)} end`, `pypi ${R} end`],
    ['a.ts', 'mailgun key-0123456789abcdef0123456789abcdef end', `mailgun ${R} end`],
    ['a.ts', 'bot 123456789:AAabcdefghijklmnopqrstuvwxyz0123456 end', `bot ${R} end`],
    ['a.ts', 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end', `jwt ${R} end`],
    ['a.ts', 'fetch(u, { headers: { Authorization: "Bearer abcdef0123456789ABCDEF" } })', `fetch(u, { headers: { Authorization: "Bearer ${R}" } })`],
    ['a.sh', 'curl -H "Authorization: Basic dXNlcjpwYXNzd29yZDEyMzQ="', `curl -H "Authorization: Basic ${R}"`],
    ['a.ts', 'postgres://admin:pa55word@db:5432/app', `postgres://admin:${R}@db:5432/app`],
    ['a.py', 'URL = "MONGODB+SRV://User:Hunter2Pass@cluster0.example.net/db"', `URL = "MONGODB+SRV://User:${R}@cluster0.example.net/db"`],
    ['a.cs', 'var c = "Server=db;User Id=sa;Password=MyS3cret!;Encrypt=true";', `var c = "Server=db;User Id=sa;Password=${R};Encrypt=true";`],
    ['app.config', 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abcdEFGH1234/+==;', `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${R};`],
    ['settings.xml', '<server><password>s3cretXml</password></server>', `<server><password>${R}</password></server>`],
    // Quoted assignments: any quote, any case, several in one text, in code as well.
    ['a.ts', 'password = "hunter22"', `password = "${R}"`],
    ['a.ts', "const DB_PASSWORD = 'hunter22', API_TOKEN = `t0k3n-value`;", `const DB_PASSWORD = '${R}', API_TOKEN = \`${R}\`;`],
    ['a.json', '{"client_secret": "s3cr3t-value", "apiKey": "k3y-value"}', `{"client_secret": "${R}", "apiKey": "${R}"}`],
    ['a.py', 'SECRET_KEY = "django-insecure-1234"', `SECRET_KEY = "${R}"`],
    ['a.rb', 'config.access_key => "abcd1234"', `config.access_key => "${R}"`],
    ['a.go', 'privateKey := "pk-value-1"', `privateKey := "${R}"`],
    ['a.ts', 'const signingKey = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";', `const signingKey = "${R}";`],
    // Unquoted values in configuration files of every common format.
    ['aws/credentials', '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n', `[default]\naws_access_key_id = ${R}\naws_secret_access_key = ${R}\n`],
    ['config.yaml', 'db:\n  user: app\n  password: Tr0ub4dor&3x\n  max_tokens: 1024\n', `db:\n  user: app\n  password: ${R}\n  max_tokens: 1024\n`],
    ['docker-compose.yml', 'environment:\n  - POSTGRES_PASSWORD=s3cretPg!\n  - POSTGRES_USER=app\n', `environment:\n  - POSTGRES_PASSWORD=${R}\n  - POSTGRES_USER=app\n`],
    ['compose.yaml', 'environment:\n  MYSQL_ROOT_PASSWORD: rootpw99\n', `environment:\n  MYSQL_ROOT_PASSWORD: ${R}\n`],
    ['settings.ini', '[db]\npassword=correcthorse\nhost=db\n', `[db]\npassword=${R}\nhost=db\n`],
    ['pyproject.toml', '[tool.x]\ntoken = "abcd-efgh"\n', `[tool.x]\ntoken = "${R}"\n`],
    ['app.properties', 'db.password=s3cr3tProp\n', `db.password=${R}\n`],
    ['deploy.sh', 'export DB_PASSWORD=correcthorse\nexport GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n', `export DB_PASSWORD=${R}\nexport GITHUB_TOKEN=${R}\n`],
    ['.npmrc', '//registry.npmjs.org/:_authToken=abcd-1234-efgh-5678\n', `//registry.npmjs.org/:_authToken=${R}\n`],
    ['Makefile', 'run:\n\tcli --password=hunter2hunter2 --user=me\n', `run:\n\tcli --password=${R} --user=me\n`],
    // Diff lines start with + or -: the patterns are not anchored at the start of a line.
    ['settings.ini', '+password=correcthorse\n-token=oldtoken1\n', `+password=${R}\n-token=${R}\n`],
    // A token after a key-like name, in code.
    ['a.ts', 'const stripeKey = sk0a1b2c3d4e5f6a7b8c9d;', `const stripeKey = ${R};`],
    ['a.py', 'auth = Ab3dE5gH7jK9mN1pQ3sT\n', `auth = ${R}\n`],
  ];

  for (const [path, text, expected] of cases) {
    it(`${path}: ${text.split('\n').find((l) => /[=:]|\S{16}/.test(l))?.slice(0, 60)}`, () => {
      assert.equal(redactSecrets(text, path), expected);
    });
  }

  it('redacts private keys whole, finished or not, and only the key', () => {
    const body = 'MIIEowIBAAKCAQEAx4b+/Zq9\nc2VjcmV0a2V5Ym9keQ==\n';
    for (const label of ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']) {
      const key = `-----BEGIN ${label}-----\n${body}-----END ${label}-----`;
      assert.equal(redactSecrets(`before\n${key}\nafter\n`, 'k.txt'), `before\n${R}\nafter\n`, label);
    }
    const pgp = '-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: 1\n\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----';
    assert.equal(redactSecrets(`a\n${pgp}\nb`, 'k.asc'), `a\n${R}\nb`);
    // Typed line by line: no END yet, so the key runs to the last line that can be part of it.
    assert.equal(redactSecrets(`a\n-----BEGIN RSA PRIVATE KEY-----\n${body}const x = 1;\n`, 'k.ts'), `a\n${R}\nconst x = 1;\n`);
    assert.equal(redactSecrets('-----BEGIN RSA PRIVATE KEY-----\nMIIEow', 'k.ts'), R);
    assert.equal(redactSecrets('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIEow', 'k.ts'), R);
    // In a JSON string (a service account file) the line breaks are escapes.
    const json = '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\nAbCd==\\n-----END PRIVATE KEY-----\\n", "x": 1}';
    assert.equal(redactSecrets(json, 'sa.json'), `{"private_key": "${R}", "x": 1}`);
    const unnamed = '["-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\nAbCd==\\n-----END PRIVATE KEY-----\\n", 1]';
    assert.equal(redactSecrets(unnamed, 'sa.json'), `["${R}\\n", 1]`);
  });

  it('keeps code that names a secret without holding one', () => {
    const code = [
      'const password = readPassword();',
      'password = process.env.PASSWORD',
      'token = os.environ["TOKEN"]',
      'if (token) return token;',
      'const apiKey = config.apiKey;',
      'interface User { password: string; apiKey?: string; token: Token }',
      'def login(password: str, token: str = None):',
      'const token = next;',
      'headers.Authorization = `Bearer ${token}`;',
      'const key = "name";',
      'const sessionKey = `user:${id}`;',
      'const tokenizer = "bytes";',
      'const passWithNoTests = true;',
      'bypass = "yes please"',
      'const x = {key: "a8f5f167f44f4964"};',
    ].join('\n');
    assert.equal(redactSecrets(code, 'a.ts'), code);
    const config = ['password: ${DB_PASSWORD}', 'token: ${{ secrets.GITHUB_TOKEN }}', 'password: null', 'password: true', 'secret: !vault |', 'max_tokens: 1024', 'tokens: 4096,', 'password: <your password>', 'api_key: {{ api_key }}', 'secret: %(secret)s'].join('\n');
    assert.equal(redactSecrets(config, 'config.yaml'), config);
  });

  it('treats unquoted values after a secret name by file kind: code needs a token, configuration does not', () => {
    assert.equal(redactSecrets('password: hunter2x\n', 'a.ts'), 'password: hunter2x\n');
    assert.equal(redactSecrets('password: hunter2x\n', 'a.yml'), `password: ${R}\n`);
    assert.equal(redactSecrets('token = a1B2c3D4e5F6g7H8i9\n', 'a.py'), `token = ${R}\n`);
    assert.deepEqual(['a.ts', 'b.PY', 'c.go', 'x/y.tsx', 'C:\\w\\d.rs'].map(textKind), ['code', 'code', 'code', 'code', 'code']);
    assert.equal(redactSecrets('password: 1234abcd\nport: 5432\n', 'a.yml'), `password: ${R}\nport: 5432\n`, 'a value starting with digits is still a password');
    assert.equal(redactSecrets('password: hunter2null\ntoken: nullable123\nsecret: truex\n', 'a.yml'), `password: ${R}\ntoken: ${R}\nsecret: ${R}\n`, 'only the whole word null is no secret');
    assert.deepEqual(['a.yml', 'credentials', '.env', 'x.ts/config', 'Dockerfile', 'notes.md', '/w/.ts'].map(textKind), ['config', 'config', 'config', 'config', 'config', 'config', 'config']);
  });

  it('tells tokens from words and names', () => {
    for (const token of ['a8f5f167f44f4964e6c998dee827110c', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'Ab3dE5gH7jK9mN1pQ3sT', '9f8e7d6c5b4a3928.x1y2z3', 'AbC.dEf/1234567890XyZ9', 'abcd1234abcd1234']) {
      assert.equal(looksLikeToken(token), true, token);
    }
    for (const word of ['a8f5f167f44f496', 'abcdefghijklmnopqrstuvwxyz', '1234567890123456789', 'config.apiKey2.value', './keys/server2.pem', 'aaaaaaaaaaaaaaaa1111', 'process.env.KEY12345678', 'has space 1234567890ab', '${A1b2C3d4E5f6G7h8}', '/var/lib/app/k3y5tore123', '../lib/app/k3y5tore123', 'abcd1234abcd123a']) {
      assert.equal(looksLikeToken(word), false, word);
    }
  });
});

describe('a redacted document', () => {
  const raw = 'a = 1\npassword = "hunter22"\nb = 2\n';
  const r = new Redaction(raw, 'config');

  it('maps offsets around, into and past a secret', () => {
    const start = raw.indexOf('hunter22');
    const end = start + 'hunter22'.length;
    assert.equal(r.text, `a = 1\npassword = "${R}"\nb = 2\n`);
    assert.deepEqual(r.secrets, ['hunter22']);
    assert.equal(r.offset(0), 0);
    assert.equal(r.offset(start), start);
    assert.equal(r.offset(start + 3), start, 'inside: to the marker start');
    assert.equal(r.offset(start + 3, true), start + R.length, 'inside, rounding up: past the marker');
    assert.equal(r.offset(start, true), start, 'at a secret, rounding up: still before it');
    assert.equal(r.slice(0, start), 'a = 1\npassword = "', 'a slice that ends where a secret begins holds none of it');
    assert.equal(r.offset(end), start + R.length);
    assert.equal(r.offset(raw.length), r.text.length);
    assert.equal(r.slice(raw.indexOf('b = 2'), raw.length), 'b = 2\n');
    assert.equal(r.slice(0, start + 2), `a = 1\npassword = "${R}`, 'a slice that cuts a secret holds all of its marker');
    assert.equal(r.slice(start + 2, raw.length), `${R}"\nb = 2\n`);
  });

  it('maps offsets past several secrets', () => {
    const two = new Redaction('a = "AKIAIOSFODNN7EXAMPLE"; b = "AKIAI44QH8DHBEXAMPLE";', 'code');
    assert.equal(two.text, `a = "${R}"; b = "${R}";`);
    const second = 'a = "AKIAIOSFODNN7EXAMPLE"; b = "'.length;
    assert.equal(two.offset(second + 5), `a = "${R}"; b = "`.length, 'inside the second secret: to its marker');
    assert.equal(two.offset(second + 5, true), `a = "${R}"; b = "${R}`.length);
    assert.equal(two.touches(0, 3), false);
    assert.equal(two.touches(second, second + 1), true, 'touching one of two secrets');
  });

  it('says which ranges a secret touches', () => {
    const start = raw.indexOf('hunter22');
    assert.equal(r.touches(0, start), false);
    assert.equal(r.touches(0, start + 1), true);
    assert.equal(r.touches(start + 7, raw.length), true);
    assert.equal(r.touches(start + 8, raw.length), false);
  });
});

describe('fragments of secrets', () => {
  const token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';

  it('learns each secret once and ignores ones too short to scrub', () => {
    const ledger = new SecretLedger();
    assert.deepEqual(ledger.add([token, 'short']), [token]);
    assert.equal(ledger.add([token]).length, 0);
    assert.equal(ledger.size, 1);
    assert.deepEqual(ledger.add(['12345678', '1234567']), ['12345678'], 'FRAGMENT_CHARS characters are enough');
    assert.equal(new SecretLedger().scrub(token), token, 'an empty ledger changes nothing');
  });

  it(`replaces every run of ${FRAGMENT_CHARS} or more of a secret's characters, and nothing shorter`, () => {
    const ledger = new SecretLedger();
    ledger.add([token, 'Tr0ub4dor&3x-horse']);
    assert.equal(ledger.scrub(`const t = "${token.slice(0, 20)}";`), `const t = "${R}";`, 'the first burst of a token typed in two');
    assert.equal(ledger.scrub(`x ${token.slice(5, 13)} y`), `x ${R} y`, 'exactly FRAGMENT_CHARS');
    assert.equal(ledger.scrub(`x ${token.slice(5, 12)} y`), `x ${token.slice(5, 12)} y`, 'one fewer');
    assert.equal(ledger.scrub(`${token.slice(0, 9)}|${token.slice(20, 30)}|Tr0ub4dor&3x`), `${R}|${R}|${R}`);
    assert.equal(ledger.scrub('nothing to see here'), 'nothing to see here');
    assert.equal(ledger.scrub(`<${token.slice(-8)}>`), `<${R}>`, "a secret's last characters");
    assert.equal(ledger.scrub(`${token.slice(0, 8)}${token.slice(20, 28)}`), R, 'touching runs are one');
  });

  it('finds rows with any fragment long enough, with a bounded number of probes', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 400 }), fc.nat(), fc.nat(), (secret, a, b) => {
        const probes = fragmentProbes([secret], 16);
        const step = Math.max(1, Math.ceil((secret.length - FRAGMENT_CHARS + 1) / 16));
        const length = Math.min(secret.length, FRAGMENT_CHARS + step - 1 + (b % 8));
        const start = a % (secret.length - length + 1);
        const fragment = secret.slice(start, start + length);
        return probes.length <= 17 && probes.some((p) => fragment.includes(p));
      }),
      { seed: 9, numRuns: 300 },
    );
    assert.deepEqual(fragmentProbes(['0123456789']), ['01234567', '12345678', '23456789']);
  });
});

describe('capture derives everything from redacted text', () => {
  function session(path: string, text: string) {
    const stored: string[] = [];
    const secrets: string[] = [];
    const sink: CaptureSink = {
      edit: (_c, diff) => stored.push(diff),
      episode: (_c, e) => stored.push(JSON.stringify(e)),
      outcome: () => {},
      secrets: (found) => secrets.push(...found),
    };
    const capture = new DocumentCapture(`file://${path}`, path, 'plaintext', text, 1, { ...defaultCaptureOptions, settleMs: 60_000 }, sink, null);
    let now = 0;
    const type = (chunk: string, gapMs = 50) => {
      now += gapMs;
      const end = capture.positionAt(capture.text.length);
      capture.applyChanges([{ range: { start: end, end }, text: chunk }], capture.version + 1, now);
    };
    return { capture, stored, secrets, type };
  }

  it('stores no line of a private key typed line by line, in diffs or episodes', () => {
    const lines = ['MIIEowIBAAKCAQEAx4bZq9secretbody1', 'c2VjcmV0a2V5Ym9keXNlY3JldGJvZHky', 'dGhpcmRsaW5lb2Z0aGVrZXlib2R5MzM='];
    const s = session('/w/deploy/key.txt', 'notes\n');
    s.type('-----BEGIN RSA PRIVATE KEY-----\n', 1500);
    for (const line of lines) {
      s.type(`${line}\n`, 1500);
      s.capture.settle();
    }
    s.type('-----END RSA PRIVATE KEY-----\n', 1500);
    s.type('done = true\n', 1500);
    s.capture.settle();
    const all = s.stored.join('\n');
    for (const line of lines) assert.ok(!all.includes(line.slice(0, 12)), `${line} leaked`);
    assert.ok(all.includes(`+${R}`), 'the key is an edit of its own, redacted');
    assert.ok(all.includes('+done = true'), 'what follows the key is captured as usual');
  });

  it('reports a secret once it stands complete, so that its fragments can be scrubbed', () => {
    const token = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
    const s = session('/w/src/a.ts', 'const t = "";\n');
    const at = s.capture.text.indexOf('"') + 1;
    const put = (chunk: string) => {
      const p = s.capture.positionAt(at + s.capture.text.slice(at).indexOf('"'));
      s.capture.applyChanges([{ range: { start: p, end: p }, text: chunk }], s.capture.version + 1, 0);
    };
    put(token.slice(0, 20));
    s.capture.settle();
    assert.equal(s.secrets.length, 0, 'half a token is not recognisable');
    put(token.slice(20));
    s.capture.settle();
    assert.ok(s.secrets.includes(token));
    assert.ok(!s.stored[s.stored.length - 1].includes(token.slice(20)), 'the completing edit is stored redacted');
  });

  it('marks a region holding a secret, and cuts prompts from redacted text', () => {
    const s = session('/w/src/a.ts', 'const a = 1;\nconst key = "AKIAIOSFODNN7EXAMPLE";\n' + 'x\n'.repeat(10) + 'const b = 2;\n');
    const near = s.capture.contextAt(1, 0);
    assert.equal(near.regionHoldsSecret, true);
    assert.ok(!JSON.stringify(near).includes('AKIAIOSFODNN7EXAMPLE'));
    const far = s.capture.contextAt(12, 3);
    assert.equal(far.regionHoldsSecret, false);
    assert.ok(far.prefix.includes(`const key = "${R}";`));
    assert.equal(far.region.slice(far.cursor), s.capture.text.slice(s.capture.offsetAt(12, 3), s.capture.offsetAt(15, 0)), 'the cursor lands on the same character');
  });

  it('discards what was not stored when the document may no longer be captured', () => {
    const s = session('/w/src/a.ts', 'a\n');
    s.type('b\n');
    s.capture.discard();
    s.capture.settle();
    assert.deepEqual(s.stored, []);
  });
});
