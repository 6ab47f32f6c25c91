//! Teams: created, renamed, given members of their own organization only, deleted.

use crate::fixtures::{Org, actions, at, create_org, member_ctx};
use crate::people::{TEAM_TAKEN, add_member, assert_chain, conflict};
use keyward_core::events;
use keyward_core::id::{MemberId, TeamId};
use keyward_core::model::Team;
use keyward_core::store::{Store, StoreError};
use std::sync::Arc;

fn team(org: &Org, name: &str, members: &[&MemberId]) -> Team {
    Team {
        id: TeamId::generate().unwrap(),
        org_id: org.org.id.clone(),
        name: name.to_owned(),
        members: members.iter().map(|&m| m.clone()).collect(),
        created_at: at(2),
    }
}

fn sorted(ids: &[&MemberId]) -> Vec<MemberId> {
    let mut ids: Vec<MemberId> = ids.iter().map(|&m| m.clone()).collect();
    ids.sort();
    ids
}

pub async fn teams_are_created_updated_and_deleted(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let globex = create_org(s, "Globex", at(0)).await;
    let bob = add_member(s, &acme, "bob@example.com", at(1)).await;
    let carol = add_member(s, &acme, "carol@example.com", at(1)).await;
    let stranger = add_member(s, &globex, "stranger@example.com", at(1)).await;
    let ctx = member_ctx(at(3));
    let created = |t: &Team| events::team_changed("team.created", None, Some(t));

    let blue = team(&acme, "Blue", &[&bob, &carol].map(|m| &m.id));
    let alpha = team(&acme, "alpha", &[]);
    store
        .insert_team(&blue, &ctx, created(&blue))
        .await
        .unwrap();
    store
        .insert_team(&alpha, &ctx, created(&alpha))
        .await
        .unwrap();

    // By name, compared as bytes: upper case sorts first.
    let teams = store.list_teams(acme.id()).await.unwrap();
    assert_eq!(
        teams.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Blue", "alpha"]
    );
    assert_eq!(teams[0].id, blue.id);
    assert_eq!(teams[0].org_id, acme.org.id);
    assert_eq!(teams[0].created_at, at(2));
    assert_eq!(teams[0].members, sorted(&[&bob.id, &carol.id]));
    assert!(teams[1].members.is_empty());
    assert!(store.list_teams(globex.id()).await.unwrap().is_empty());

    // Names are unique within an organization only.
    let twin = team(&acme, "Blue", &[]);
    assert_eq!(
        conflict(store.insert_team(&twin, &ctx, created(&twin)).await),
        TEAM_TAKEN
    );
    let theirs = team(&globex, "Blue", &[&stranger.id]);
    store
        .insert_team(&theirs, &ctx, created(&theirs))
        .await
        .unwrap();

    // Only members of the team's own organization can join it, once.
    let poached = team(&acme, "Poached", &[&bob.id, &stranger.id]);
    conflict(store.insert_team(&poached, &ctx, created(&poached)).await);
    let twice = team(&acme, "Twice", &[&bob.id, &bob.id]);
    conflict(store.insert_team(&twice, &ctx, created(&twice)).await);
    assert_eq!(store.list_teams(acme.id()).await.unwrap().len(), 2);

    // An update renames and replaces the member list.
    let mut green = blue.clone();
    green.name = "Green".to_owned();
    green.members = vec![acme.owner.id.clone(), carol.id.clone()];
    store
        .update_team(
            &green,
            &ctx,
            events::team_changed("team.updated", Some(&blue), Some(&green)),
        )
        .await
        .unwrap();
    let teams = store.list_teams(acme.id()).await.unwrap();
    assert_eq!(teams[0].name, "Green");
    assert_eq!(teams[0].id, blue.id);
    assert_eq!(teams[0].members, sorted(&[&acme.owner.id, &carol.id]));

    // A failed update changes nothing.
    let mut clash = green.clone();
    clash.name = "alpha".to_owned();
    let updated = |t: &Team| events::team_changed("team.updated", Some(&green), Some(t));
    assert_eq!(
        conflict(store.update_team(&clash, &ctx, updated(&clash)).await),
        TEAM_TAKEN
    );
    let mut foreign_member = green.clone();
    foreign_member.members = vec![bob.id.clone(), stranger.id.clone()];
    conflict(
        store
            .update_team(&foreign_member, &ctx, updated(&foreign_member))
            .await,
    );
    let teams = store.list_teams(acme.id()).await.unwrap();
    assert_eq!(teams[0].name, "Green");
    assert_eq!(teams[0].members, sorted(&[&acme.owner.id, &carol.id]));
    let unknown = team(&acme, "Unknown", &[]);
    let result = store.update_team(&unknown, &ctx, updated(&unknown)).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    let mut in_globex = green.clone();
    in_globex.org_id = globex.org.id.clone();
    in_globex.members.clear();
    let result = store
        .update_team(&in_globex, &ctx, updated(&in_globex))
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");

    // Deleting a team keeps its members.
    let deleted = events::team_changed("team.deleted", Some(&green), None);
    let result = store
        .delete_team(globex.id(), &green.id, &ctx, deleted.clone())
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    store
        .delete_team(acme.id(), &green.id, &ctx, deleted.clone())
        .await
        .unwrap();
    let teams = store.list_teams(acme.id()).await.unwrap();
    assert_eq!(
        teams.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&alpha.id)
    );
    assert_eq!(store.list_members(acme.id()).await.unwrap().len(), 3);
    let result = store.delete_team(acme.id(), &green.id, &ctx, deleted).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(store.list_teams(globex.id()).await.unwrap().len(), 1);

    // Only the changes that happened were audited.
    assert_eq!(
        actions(s, acme.id()).await[5..],
        [
            "member.added",
            "member.added",
            "team.created",
            "team.created",
            "team.updated",
            "team.deleted"
        ]
    );
    assert_chain(s, &acme).await;
    assert_chain(s, &globex).await;
}
