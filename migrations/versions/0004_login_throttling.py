"""Login throttling per account and address (issue 9: point 5).

Five wrong passwords from anyone locked the account for everyone. Now:
- login_attempts counts per (account, client address): some free failures, then each further one
  locks that pair for a time that doubles up to a cap; a pair quiet for a window starts over; a
  success clears the pair and remembers the address as known for the account.
- login_store_failures is a ceiling across addresses, per store and login kind (admin, table), so
  guessers spread over many addresses are bounded too, and guests guessing table passwords never
  touch the staff's logins. An address the account logged in from recently is exempt from it.
- begin_login_attempt() does both checks and counts the attempt in one round trip, before the
  password is checked; login_succeeded() takes the count back.

The counters of 0001 are dropped rather than converted: they are seconds-lived state keyed without
an address, and starting from zero costs an attacker nothing the per-pair limits do not bound.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
DROP TABLE login_attempts;

CREATE TABLE login_attempts (
    -- '<kind>:<store code>:<username or table number>'; the account need not exist (unknown
    -- accounts lock like real ones, or the lockout would tell which exist).
    key             text NOT NULL,
    -- The client address, an IPv6 client's /64 (one host holds a whole /64), or 'unknown'.
    address         text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 64),
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at timestamptz,
    locked_until    timestamptz,
    last_success_at timestamptz,
    PRIMARY KEY (key, address)
);

CREATE TABLE login_store_failures (
    store_code        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('admin', 'table')),
    failures          integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (store_code, kind)
);

-- Counts a login attempt *before* its password is checked, atomically (the rows are locked, store
-- first, then the pair, here and in login_succeeded, so two attempts never deadlock), so concurrent
-- guesses cannot all pass at once. retry_after is NULL when the password may be checked, else the
-- seconds until an attempt may be (the pair's lock, the store's window, whichever ends later).
-- Refused attempts are not counted: they check no password, and must not extend a lock.
CREATE FUNCTION begin_login_attempt(
    p_kind text, p_store_code text, p_account text, p_address text,
    p_max_failures integer, p_backoff_seconds double precision, p_lockout_seconds double precision,
    p_window_seconds double precision, p_store_max_failures integer, p_known_seconds double precision,
    OUT retry_after integer, OUT store_counted boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_key    text := p_kind || ':' || p_store_code || ':' || p_account;
    v_window interval := make_interval(secs => p_window_seconds);
    v_store  login_store_failures;
    v_pair   login_attempts;
    v_now    timestamptz;
    v_known  boolean;
    v_wait   double precision := 0;
    v_over   integer;
BEGIN
    INSERT INTO login_store_failures AS s (store_code, kind, window_started_at)
    VALUES (p_store_code, p_kind, now())
    ON CONFLICT (store_code, kind) DO UPDATE SET failures = s.failures
    RETURNING * INTO v_store;
    INSERT INTO login_attempts AS a (key, address) VALUES (v_key, p_address)
    ON CONFLICT (key, address) DO UPDATE SET failures = a.failures
    RETURNING * INTO v_pair;
    -- Taken once the rows are ours: waiting behind a concurrent attempt must not count as time
    -- that passed (with now(), a lock just set would be announced longer than it is).
    v_now := clock_timestamp();
    v_known := coalesce(v_pair.last_success_at > v_now - make_interval(secs => p_known_seconds), false);

    IF coalesce(greatest(v_pair.last_failure_at, v_pair.locked_until) <= v_now - v_window, true) THEN
        v_pair.failures := 0;  -- quiet for a window (counted from the end of its last lock)
    END IF;
    IF v_store.window_started_at <= v_now - v_window THEN
        v_store.failures := 0;
        v_store.window_started_at := v_now;
    END IF;

    IF v_pair.locked_until > v_now THEN
        v_wait := extract(epoch FROM v_pair.locked_until - v_now);
    END IF;
    IF NOT v_known AND v_store.failures >= p_store_max_failures THEN
        v_wait := greatest(v_wait, extract(epoch FROM v_store.window_started_at + v_window - v_now));
    END IF;
    IF v_wait > 0 THEN
        retry_after := ceil(v_wait)::integer;
        store_counted := false;
        RETURN;
    END IF;

    -- The free failures, then locks of backoff, 2 x backoff, 4 x backoff ... up to the cap (the
    -- exponent is bounded so that a long siege cannot overflow the arithmetic).
    v_pair.failures := v_pair.failures + 1;
    v_over := v_pair.failures - p_max_failures;
    UPDATE login_attempts SET
        failures = v_pair.failures,
        last_failure_at = v_now,
        locked_until = CASE WHEN v_over > 0 THEN v_now + make_interval(
            secs => least(p_lockout_seconds, p_backoff_seconds * 2 ^ least(v_over - 1, 60))) END
     WHERE key = v_key AND address = p_address;
    IF NOT v_known THEN
        UPDATE login_store_failures
           SET failures = v_store.failures + 1, window_started_at = v_store.window_started_at
         WHERE store_code = p_store_code AND kind = p_kind;
    END IF;
    retry_after := NULL;
    store_counted := NOT v_known;
END
$$;

-- The password was right: take back the failure counted in advance, clear the pair, and remember
-- the address as one this account logs in from.
CREATE FUNCTION login_succeeded(p_kind text, p_store_code text, p_account text, p_address text,
                                p_store_counted boolean) RETURNS void LANGUAGE sql AS $$
    UPDATE login_store_failures SET failures = failures - 1
     WHERE p_store_counted AND store_code = p_store_code AND kind = p_kind AND failures > 0;
    INSERT INTO login_attempts AS a (key, address, last_success_at)
    VALUES (p_kind || ':' || p_store_code || ':' || p_account, p_address, now())
    ON CONFLICT (key, address) DO UPDATE
       SET failures = 0, last_failure_at = NULL, locked_until = NULL, last_success_at = now();
$$;
"""

DOWNGRADE = """
DROP FUNCTION login_succeeded(text, text, text, text, boolean);
DROP FUNCTION begin_login_attempt(text, text, text, text, integer, double precision, double precision,
                                  double precision, integer, double precision);
DROP TABLE login_store_failures;
DROP TABLE login_attempts;
CREATE TABLE login_attempts (
    key               text PRIMARY KEY,
    failures          integer NOT NULL CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
