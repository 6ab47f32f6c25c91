//! One storage conformance suite, run against every backend: each test below
//! runs once on a fresh SQLite database and once on a fresh PostgreSQL
//! database (see `harness` for where that comes from and when it is skipped).
//!
//! A test takes `Arc<dyn Store>`, or the whole `Backend` when it must reach
//! the database around the store (raw SQL, a second node).

// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod concurrency;
mod fixtures;
mod harness;
mod idempotency;
mod keys;
mod listing;
mod organizations;
mod people;
mod postgres_only;
mod sessions;
mod teams;
mod usage;
mod verification;
mod webhooks;

/// Declares every conformance test once per backend, as
/// `sqlite::<test>` and `postgres::<test>`.
macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::harness::on_sqlite(|backend| async move {
                        crate::$module::$test(crate::harness::FromBackend::from_backend(&backend)).await;
                    })
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::harness::on_postgres(|backend| async move {
                        crate::$module::$test(crate::harness::FromBackend::from_backend(&backend)).await;
                    })
                    .await;
                }
            )*
        }
    };
}

conformance! {
    organizations::ping_answers,
    organizations::organization_is_created_with_everything,
    organizations::projects_are_created_listed_and_updated,
    organizations::shared_secret_is_revealed_and_rotated_with_audit,
    keys::key_with_every_field_round_trips,
    keys::key_is_found_by_current_and_previous_hash,
    keys::update_key_checks_the_version,
    keys::archive_purges_beyond_the_limit_with_audit,
    keys::stored_hashes_follow_every_write_of_a_hash,
    listing::list_filters_by_status_and_project,
    listing::list_search_is_case_insensitive_and_escapes_like,
    listing::list_sorts_and_paginates_with_cursors,
    listing::list_reads_forged_cursors_without_failing,
    listing::list_filters_by_last_use_and_expiry,
    usage::last_used_only_moves_forward,
    usage::usage_counts_add_up_per_hour_and_code,
    usage::quota_counts_per_period,
    usage::organization_usage_sums_its_keys_and_ranks_them,
    idempotency::idempotent_responses_are_kept_once_and_expire,
    audit::audit_search_applies_every_filter,
    audit::audit_events_page_in_order_and_chain,
    audit::audit_events_are_append_only,
    concurrency::concurrent_writers_keep_one_chain,
    concurrency::concurrent_updates_of_one_key_let_one_win,
    concurrency::a_reader_following_the_hash_clock_misses_no_write,
    verification::the_stored_hashes_answer_unknown_keys_and_follow_every_writer,
    people::members_are_added_listed_and_unique,
    people::members_are_updated,
    people::an_organization_always_keeps_an_owner,
    people::removing_a_member_disables_their_live_keys,
    teams::teams_are_created_updated_and_deleted,
    sessions::sessions_expire_and_end,
    sessions::session_flash_is_read_once,
    webhooks::messages_are_queued_with_their_change_or_not_at_all,
    webhooks::deliveries_go_in_order_and_one_worker_holds_a_lease,
    webhooks::a_notice_is_recorded_once,
}
