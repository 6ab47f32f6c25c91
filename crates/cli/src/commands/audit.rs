//! `keyward audit verify`: walks every organization's hash chain.

use crate::args::Global;
use anyhow::Context;
use keyward_core::audit::{AuditEvent, verify_chain};
use keyward_core::id::OrgId;
use keyward_server::app::open_store;
use std::process::ExitCode;

const PAGE: u32 = 10_000;

pub async fn verify(global: &Global, org: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = super::settings(global)?;
    let store = open_store(&settings).await?;
    let orgs: Vec<OrgId> = match org {
        Some(id) => {
            let id = OrgId::parse(id).map_err(anyhow::Error::msg)?;
            store.get_organization(&id).await?.context("no such organization")?;
            vec![id]
        }
        None => store.list_organizations().await?.into_iter().map(|o| o.id).collect(),
    };
    let mut intact = true;
    for org in &orgs {
        let mut events: Vec<AuditEvent> = Vec::new();
        let mut after = 0;
        loop {
            let page = store.audit_events(org, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            events.extend(page);
        }
        match verify_chain(&events) {
            Ok(count) => println!("{org}: {count} events, chain intact"),
            Err(error) => {
                println!("{org}: {error}");
                intact = false;
            }
        }
    }
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
