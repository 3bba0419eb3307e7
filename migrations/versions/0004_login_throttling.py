"""Login throttling per account and address (issue 9: point 5).

Five wrong passwords from anyone locked the account for everyone. Now:
- login_attempts counts per (account, client address): some free failures, then each further one
  locks that pair for a time that doubles up to a cap; a pair quiet for a window starts over; a
  success clears the pair and remembers the address as known for the account.
- login_store_failures is a ceiling across addresses, per store and login kind (admin, table), so
  guessers spread over many addresses are bounded too, and guests guessing table passwords never
  touch the staff's logins. Each address counts at most as many failures towards it per window as a
  pair has free ones (login_store_address_failures), so no one address can trip it: a guesser making
  up usernames or table numbers from one address never locks the real admin or a new tablet out.
- login_address_failures is a ceiling per address across every store and account: each attempt
  costs an argon2 verification (unknown stores and accounts included, so the timing tells nothing),
  and one address must not spend the hashing time of every store by guessing made-up ones.
- An address the account logged in from recently is exempt from both ceilings (not from its pair's
  own limits).
- begin_login_attempt() does every check and counts the attempt in one round trip, before the
  password is checked; login_succeeded() takes the count back.

The arithmetic, with the defaults (5 free failures, locks from 1 s doubling to an hour, a 900 s
window, 30 failures per store and kind per window, 50 per address per window):
- one address against one account: 5 failures, then the backoff; at best 12 failures per 1027 s
  (5 free, 7 more each after the last one's lock, 127 s of locks, then the 900 s of quiet after
  which the pair starts over): about 1,010 a day;
- one address across every store and account: at most 50 failures per window, 4,800 a day, of
  which at most 5 per window count towards any one store's ceiling;
- every address together, against one store's table logins (or its admin logins): at most 30
  failures per window from addresses not known to the account, 2,880 a day (a day's guesses cover
  under a third of a 4-digit PIN space); tripping that ceiling takes at least 6 distinct addresses
  in one window, and refuses only addresses that are not known to the account tried.

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

-- What one address counted towards a store's ceiling: only the store's window that started at
-- window_started_at (a row of an earlier window counts as none).
CREATE TABLE login_store_address_failures (
    store_code        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('admin', 'table')),
    address           text NOT NULL CHECK (char_length(address) BETWEEN 1 AND 64),
    failures          integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (store_code, kind, address)
);

CREATE TABLE login_address_failures (
    address           text PRIMARY KEY CHECK (char_length(address) BETWEEN 1 AND 64),
    failures          integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL
);

-- Counts a login attempt *before* its password is checked, atomically, so concurrent guesses cannot
-- all pass at once. The rows are locked in one order, here and in login_succeeded (the address's,
-- the store's, the address's share of the store, the pair's), so two attempts never deadlock.
-- retry_after is NULL when the password may be checked, else the seconds until an attempt may be
-- (the address's window, the pair's lock, the store's window, whichever ends later). Refused
-- attempts are not counted: they check no password, and must not extend a lock. store_counted and
-- address_counted say which ceilings the attempt was counted against (login_succeeded takes it back).
CREATE FUNCTION begin_login_attempt(
    p_kind text, p_store_code text, p_account text, p_address text,
    p_max_failures integer, p_backoff_seconds double precision, p_lockout_seconds double precision,
    p_window_seconds double precision, p_store_max_failures integer, p_address_max_failures integer,
    p_known_seconds double precision,
    OUT retry_after integer, OUT store_counted boolean, OUT address_counted boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_key     text := p_kind || ':' || p_store_code || ':' || p_account;
    v_window  interval := make_interval(secs => p_window_seconds);
    v_known   boolean;
    v_address login_address_failures;
    v_store   login_store_failures;
    v_share   login_store_address_failures;
    v_pair    login_attempts;
    v_now     timestamptz;
    v_wait    double precision := 0;
    v_over    integer;
BEGIN
    store_counted := false;
    address_counted := false;
    -- Known: this address logged this account in recently. Read unlocked: only a success sets it.
    SELECT a.last_success_at > clock_timestamp() - make_interval(secs => p_known_seconds) INTO v_known
      FROM login_attempts a WHERE a.key = v_key AND a.address = p_address;
    v_known := coalesce(v_known, false);

    -- An address over its ceiling is refused before anything else is touched: made-up store codes
    -- and accounts then leave no rows behind.
    IF NOT v_known THEN
        INSERT INTO login_address_failures AS f (address, window_started_at) VALUES (p_address, now())
        ON CONFLICT (address) DO UPDATE SET failures = f.failures
        RETURNING * INTO v_address;
        v_now := clock_timestamp();
        IF v_address.window_started_at <= v_now - v_window THEN
            v_address.failures := 0;
            v_address.window_started_at := v_now;
        END IF;
        IF v_address.failures >= p_address_max_failures THEN
            retry_after := ceil(extract(epoch FROM v_address.window_started_at + v_window - v_now))::integer;
            RETURN;
        END IF;
    END IF;

    INSERT INTO login_store_failures AS s (store_code, kind, window_started_at)
    VALUES (p_store_code, p_kind, now())
    ON CONFLICT (store_code, kind) DO UPDATE SET failures = s.failures
    RETURNING * INTO v_store;
    IF NOT v_known THEN
        INSERT INTO login_store_address_failures AS c (store_code, kind, address, window_started_at)
        VALUES (p_store_code, p_kind, p_address, v_store.window_started_at)
        ON CONFLICT (store_code, kind, address) DO UPDATE SET failures = c.failures
        RETURNING * INTO v_share;
    END IF;
    INSERT INTO login_attempts AS a (key, address) VALUES (v_key, p_address)
    ON CONFLICT (key, address) DO UPDATE SET failures = a.failures
    RETURNING * INTO v_pair;
    -- Taken once the rows are ours: waiting behind a concurrent attempt must not count as time
    -- that passed (with now(), a lock just set would be announced longer than it is).
    v_now := clock_timestamp();

    IF coalesce(greatest(v_pair.last_failure_at, v_pair.locked_until) <= v_now - v_window, true) THEN
        v_pair.failures := 0;  -- quiet for a window (counted from the end of its last lock)
    END IF;
    IF v_store.window_started_at <= v_now - v_window THEN
        v_store.failures := 0;
        v_store.window_started_at := v_now;
    END IF;
    IF NOT v_known THEN
        IF v_address.window_started_at <= v_now - v_window THEN
            v_address.failures := 0;
            v_address.window_started_at := v_now;
        END IF;
        IF v_share.window_started_at <> v_store.window_started_at THEN
            v_share.failures := 0;  -- counted in an earlier window of the store's
            v_share.window_started_at := v_store.window_started_at;
        END IF;
    END IF;

    IF v_pair.locked_until > v_now THEN
        v_wait := extract(epoch FROM v_pair.locked_until - v_now);
    END IF;
    IF NOT v_known AND v_store.failures >= p_store_max_failures THEN
        v_wait := greatest(v_wait, extract(epoch FROM v_store.window_started_at + v_window - v_now));
    END IF;
    IF v_wait > 0 THEN
        retry_after := ceil(v_wait)::integer;
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
        UPDATE login_address_failures
           SET failures = v_address.failures + 1, window_started_at = v_address.window_started_at
         WHERE address = p_address;
        address_counted := true;
        -- An address counts towards its store's ceiling only as many failures as a pair has free.
        IF v_share.failures < p_max_failures THEN
            UPDATE login_store_failures
               SET failures = v_store.failures + 1, window_started_at = v_store.window_started_at
             WHERE store_code = p_store_code AND kind = p_kind;
            UPDATE login_store_address_failures
               SET failures = v_share.failures + 1, window_started_at = v_share.window_started_at
             WHERE store_code = p_store_code AND kind = p_kind AND address = p_address;
            store_counted := true;
        END IF;
    END IF;
    retry_after := NULL;
END
$$;

-- The password was right: take back the failure counted in advance (in the lock order of
-- begin_login_attempt), clear the pair, and remember the address as one this account logs in from.
CREATE FUNCTION login_succeeded(p_kind text, p_store_code text, p_account text, p_address text,
                                p_store_counted boolean, p_address_counted boolean)
RETURNS void LANGUAGE sql AS $$
    UPDATE login_address_failures SET failures = failures - 1
     WHERE p_address_counted AND address = p_address AND failures > 0;
    UPDATE login_store_failures SET failures = failures - 1
     WHERE p_store_counted AND store_code = p_store_code AND kind = p_kind AND failures > 0;
    UPDATE login_store_address_failures SET failures = failures - 1
     WHERE p_store_counted AND store_code = p_store_code AND kind = p_kind AND address = p_address
       AND failures > 0;
    INSERT INTO login_attempts AS a (key, address, last_success_at)
    VALUES (p_kind || ':' || p_store_code || ':' || p_account, p_address, now())
    ON CONFLICT (key, address) DO UPDATE
       SET failures = 0, last_failure_at = NULL, locked_until = NULL, last_success_at = now();
$$;
"""

DOWNGRADE = """
DROP FUNCTION login_succeeded(text, text, text, text, boolean, boolean);
DROP FUNCTION begin_login_attempt(text, text, text, text, integer, double precision, double precision,
                                  double precision, integer, integer, double precision);
DROP TABLE login_address_failures;
DROP TABLE login_store_address_failures;
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
