//! `keyward audit verify`: walks every organization's hash chain.

use crate::args::Global;
use anyhow::Context;
use keyward_core::audit::{ChainError, ChainVerifier};
use keyward_core::id::OrgId;
use keyward_core::store::Store;
use keyward_server::app::open_store;
use std::process::ExitCode;

const PAGE: u32 = 10_000;

pub async fn verify(global: &Global, org: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = super::settings(global)?;
    let store = open_store(&settings).await?;
    let orgs: Vec<OrgId> = match org {
        Some(id) => {
            let id = OrgId::parse(id).map_err(anyhow::Error::msg)?;
            store
                .get_organization(&id)
                .await?
                .context("no such organization")?;
            vec![id]
        }
        None => store
            .list_organizations()
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect(),
    };
    let mut intact = true;
    for org in &orgs {
        match verify_org(store.as_ref(), org).await? {
            Ok((count, head)) => println!("{org}: {count} events, chain intact, head {head}"),
            Err(error) => {
                println!("{org}: {error}");
                intact = false;
            }
        }
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Walks one organization's chain page by page, in constant memory.
async fn verify_org(
    store: &dyn Store,
    org: &OrgId,
) -> anyhow::Result<Result<(i64, String), ChainError>> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_events(org, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            if let Err(error) = verifier.check(event) {
                return Ok(Err(error));
            }
        }
    }
    Ok(Ok((verifier.count(), verifier.head().to_owned())))
}
