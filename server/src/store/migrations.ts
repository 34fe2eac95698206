// The store's schema, one migration per version. A database records its version in
// `PRAGMA user_version`; opening runs the migrations it lacks, in one transaction each.
// Never edit a shipped migration: add the next one.

export const migrations: string[] = [
  // 1: capture, suggestions and their outcomes, training runs, adapter versions.
  `
  CREATE TABLE edits (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,            -- ms since the epoch
    uri TEXT NOT NULL,
    path TEXT NOT NULL,
    diff TEXT NOT NULL                -- unified diff of one merged edit (redacted)
  );
  CREATE INDEX edits_by_path ON edits(path, time);

  CREATE TABLE suggestions (
    id TEXT PRIMARY KEY,
    time INTEGER NOT NULL,
    uri TEXT NOT NULL,
    path TEXT NOT NULL,
    context TEXT NOT NULL,            -- JSON: the episode fields the prompt was built from
    rewritten TEXT NOT NULL,          -- the region as the model rewrote it
    insert_text TEXT NOT NULL,        -- what the editor was given
    adapter_version INTEGER NOT NULL,
    latency_ms REAL NOT NULL
  );
  CREATE INDEX suggestions_by_path ON suggestions(path);

  CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('accepted', 'typed_over', 'ignored', 'survival')),
    after_s INTEGER,                  -- survival checks: seconds after the accept
    share REAL                        -- survival checks: share of accepted characters still there
  );
  CREATE INDEX outcomes_by_suggestion ON outcomes(suggestion_id);

  CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    time INTEGER NOT NULL,
    source TEXT NOT NULL,
    language TEXT NOT NULL,
    uri TEXT NOT NULL,
    path TEXT NOT NULL,
    history TEXT NOT NULL,            -- JSON array of unified diffs
    prefix TEXT NOT NULL,
    region TEXT NOT NULL,
    suffix TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    target TEXT NOT NULL,
    suggestion_id TEXT REFERENCES suggestions(id) ON DELETE SET NULL
  );
  CREATE INDEX episodes_by_time ON episodes(time);
  CREATE INDEX episodes_by_path ON episodes(path);

  CREATE TABLE training_runs (
    id INTEGER PRIMARY KEY,
    started INTEGER NOT NULL,
    finished INTEGER,
    status TEXT NOT NULL,             -- running, deployed, kept, failed, cancelled
    trigger TEXT NOT NULL,            -- background or manual
    options TEXT NOT NULL,            -- JSON
    train_episodes INTEGER NOT NULL,
    held_out_episodes INTEGER NOT NULL,
    adapter_version INTEGER,
    eval TEXT,                        -- JSON: live vs candidate on the held-out episodes
    error TEXT
  );

  CREATE TABLE training_steps (
    run_id INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    time INTEGER NOT NULL,
    metrics TEXT NOT NULL,            -- JSON: reward, loss, clip fractions, KL, entropy, timings
    groups TEXT NOT NULL,             -- JSON: per prompt rewards, mean, Q and the interval
    PRIMARY KEY (run_id, step)
  );

  CREATE TABLE adapters (
    version INTEGER PRIMARY KEY,      -- 0 is the base model (no adapter)
    time INTEGER NOT NULL,
    path TEXT,                        -- directory in PEFT's layout; NULL for version 0
    parent INTEGER,
    run_id INTEGER,
    eval TEXT
  );
  INSERT INTO adapters(version, time, path, parent, run_id, eval) VALUES (0, 0, NULL, NULL, NULL, NULL);

  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO settings(key, value) VALUES ('live_adapter', '0');
  `,

  // 2: pending survival checks, so that a restarted server resumes them.
  `
  CREATE TABLE survival_checks (
    suggestion_id TEXT NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    after_s REAL NOT NULL,            -- seconds after the accept
    due INTEGER NOT NULL,             -- ms since the epoch
    uri TEXT NOT NULL,
    text TEXT NOT NULL,               -- the accepted text (redacted)
    span_start INTEGER NOT NULL,      -- where it stands in the document, as last known
    span_end INTEGER NOT NULL,
    PRIMARY KEY (suggestion_id, after_s)
  );
  `,

  // 3: a suggestion's prompt fields are its episode's; the copy nobody read goes.
  `
  ALTER TABLE suggestions DROP COLUMN context;
  `,
];
