//! Contacts, their lookups (customer, email, browser, contract) and runs:
//! the versioned read and the one transaction that commits an event's
//! effects (contact, runs, outbox, memberships), and merges.

use super::*;
use std::collections::BTreeMap;

/// Reads of a contact whose parts do not yet agree with its profile
/// before the load fails (and the event is retried).
const HALF_SEEN_TRIES: u64 = 3;

impl DynamoStore {
    /// Ends one claimed attempt of a message: `update` applies only while the
    /// message is still `sending` under this very attempt.
    pub(super) async fn settle<const N: usize>(
        &self,
        c: &Claimed,
        update: &str,
        values: [(&str, AttributeValue); N],
        what: &str,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(self.key(&c.message)))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("st = :sending AND attempts = :attempt")
            .update_expression(update)
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":attempt", n(c.attempt));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if update.contains("#ttl") {
            request = request.expression_attribute_names("#ttl", TTL);
        }
        request.send().await.map_err(|e| sdk_err(what, e))?;
        Ok(())
    }

    /// Every item a query finds, page after page. `query` builds the
    /// request (table and conditions); the pages are this loop's.
    pub(super) async fn query_all(
        &self,
        query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        what: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err(what, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every item of one partition, strongly consistent, in key order.
    pub(super) async fn partition(&self, pk: String, what: &str) -> Result<Vec<Item>, StoreError> {
        self.partition_below(pk, None, true, what).await
    }

    /// The items of one partition whose sort key is below `below` (all of
    /// them without it), strongly consistent, in key order. A query is
    /// billed for the items its key condition reads, so what lies past the
    /// bound costs nothing.
    async fn partition_below(
        &self,
        pk: String,
        below: Option<&str>,
        strong: bool,
        what: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            || {
                let q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .expression_attribute_values(":pk", s(&pk))
                    .consistent_read(strong);
                match below {
                    Some(bound) => q
                        .key_condition_expression("PK = :pk AND SK < :below")
                        .expression_attribute_values(":below", s(bound)),
                    None => q.key_condition_expression("PK = :pk"),
                }
            },
            what,
        )
        .await
    }

    /// The contact a lookup leads to. Read eventually consistent first (half
    /// the units), and again strongly when that finds nothing: a lookup is
    /// written once and then changes only when a merge repoints it or an
    /// erasure deletes it, so a stale answer is nothing (read again here),
    /// a contact since merged, whose tombstone leads on to the survivor (as
    /// for a lookup a crash left unrepointed), or a contact that is no more
    /// (an anonymous visitor merged away, a person erased): the processor
    /// finds no profile there and asks again strongly (`find_current`,
    /// `strong`) before it takes the event for a new person.
    pub(super) async fn alias(
        &self,
        pk: String,
        strong: bool,
    ) -> Result<Option<ContactId>, StoreError> {
        match self.read_alias(&pk, strong).await? {
            Some(id) => Ok(Some(id)),
            None if strong => Ok(None),
            None => self.read_alias(&pk, true).await,
        }
    }

    async fn read_alias(&self, pk: &str, strong: bool) -> Result<Option<ContactId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(keys::sk::ALIAS))
            .consistent_read(strong)
            .send()
            .await
            .map_err(|e| sdk_err("read alias", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("contact").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|c| ContactId::parse(&c).ok()))
    }

    /// What an event's identities lead to (`find`), every lookup read
    /// strongly when `strong`.
    async fn resolve(
        &self,
        shop: &ShopDomain,
        identity: &Identity,
        strong: bool,
    ) -> Result<Resolution, StoreError> {
        let mut r = Resolution::default();
        if let Some(c) = identity.customer_id {
            match self.alias(keys::alias_customer(shop, c), strong).await? {
                Some(id) => r.contact = Some(id),
                None => r.unmapped.customer_id = Some(c),
            }
        }
        if let Some(e) = &identity.email {
            match self
                .alias(keys::alias_email(shop, &e.lookup_key()), strong)
                .await?
            {
                // The address is another contact's: perhaps the same person
                // (the processor decides).
                Some(id) if r.contact.as_ref().is_some_and(|c| *c != id) => r.merge.push(id),
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.email = Some(e.clone()),
            }
        }
        if let Some(o) = identity.order_id {
            match self.alias(keys::alias_order(shop, o), strong).await? {
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.order_id = Some(o),
            }
        }
        if let Some(k) = identity.contract_id {
            match self.alias(keys::alias_contract(shop, k), strong).await? {
                Some(id) => r.contact = r.contact.or(Some(id)),
                None => r.unmapped.contract_id = Some(k),
            }
        }
        if let Some(a) = &identity.anonymous_id {
            match self.alias(keys::alias_anonymous(shop, a), strong).await? {
                Some(id) if r.contact.as_ref().is_some_and(|c| *c != id) => r.merge.push(id),
                // A new person on a known browser: its contact is merged in
                // only if anonymous (the processor checks).
                Some(id) if r.contact.is_none() && identity.is_known() => r.merge.push(id),
                Some(id) => r.contact = Some(id),
                None => r.unmapped.anonymous_id = Some(a.clone()),
            }
        }
        Ok(r)
    }

    /// A contact's partition read, below `below` (`KEPT_RUNS`: without the
    /// ended runs kept for their messages), strongly or eventually
    /// consistent, and what it read remembered for the commit that follows.
    async fn load(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        below: Option<&str>,
        strong: bool,
    ) -> Result<Option<ContactState>, StoreError> {
        let pk = keys::contact(shop, id);
        let mut strong = strong;
        let mut items = self
            .partition_below(pk.clone(), below, strong, "load contact")
            .await?;
        // A query is not a snapshot: it may show a commit's profile and
        // not yet the parts the same transaction wrote (or deleted). Read
        // again, strongly, until they agree.
        let mut tries = 0;
        while let Some(sk) = profile::half_seen(&items, below) {
            tries += 1;
            if tries > HALF_SEEN_TRIES {
                return Err(StoreError::new(
                    waymark_app::ports::StoreErrorKind::Transient,
                    "load contact",
                    format!("{pk}: its part {sk} is not yet as its profile's commit wrote it"),
                ));
            }
            if strong {
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
            }
            strong = true;
            items = self
                .partition_below(pk.clone(), below, strong, "load contact")
                .await?;
        }
        let sk_of = |i: &Item| i.get(SK).and_then(|v| v.as_s().ok()).cloned();
        let Some(profile) = items
            .iter()
            .find(|i| sk_of(i).as_deref() == Some(keys::sk::CONTACT))
        else {
            return Ok(None);
        };
        let version = read_n(profile, VERSION);
        let mut parts = Vec::new();
        let mut read = profile::Read::default();
        let mut runs = Vec::new();
        for item in &items {
            let sk = sk_of(item).unwrap_or_default();
            if profile::is_part(&sk) {
                if let Some(d) = item.get(DOC) {
                    read.parts.insert(sk.clone(), profile::fingerprint(d));
                }
                parts.push((sk, read_doc::<serde_json::Value>(item)?));
            } else if item
                .get(TYPE)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("run")
            {
                read.runs.insert(sk);
                runs.push(VersionedRun {
                    run: read_doc::<Run>(item)?,
                    version: read_n(item, VERSION),
                });
            }
        }
        let mut d = profile::join(read_doc(profile)?, parts)?;
        if below.is_none() {
            // Every block of event ids there was to read was read: one
            // listed and not found is a stale list's.
            d.recent_events.forget_parked();
        }
        self.loaded.remember(&pk, version, read);
        Ok(Some(ContactState {
            contact: d.contact,
            version,
            recent_events: d.recent_events,
            runs,
        }))
    }

    /// `load`, eventually consistent; a contact not found is asked again
    /// strongly (one just made: an empty answer costs half a unit).
    async fn load_from_replica(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        below: Option<&str>,
    ) -> Result<Option<ContactState>, StoreError> {
        match self.load(shop, id, below, false).await? {
            Some(state) => Ok(Some(state)),
            None => self.load(shop, id, below, true).await,
        }
    }

    /// Points identities at a contact. The first mapping wins: an identity
    /// already owned by another contact is left alone (merging is explicit).
    pub(super) async fn claim_aliases(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
        identity: &Identity,
    ) -> Result<(), StoreError> {
        let mut pks = Vec::new();
        if let Some(c) = identity.customer_id {
            pks.push(keys::alias_customer(shop, c));
        }
        if let Some(e) = &identity.email {
            pks.push(keys::alias_email(shop, &e.lookup_key()));
        }
        if let Some(o) = identity.order_id {
            pks.push(keys::alias_order(shop, o));
        }
        if let Some(a) = &identity.anonymous_id {
            pks.push(keys::alias_anonymous(shop, a));
        }
        if let Some(k) = identity.contract_id {
            pks.push(keys::alias_contract(shop, k));
        }
        for pk in pks {
            self.put_alias(&pk, id, None).await?;
        }
        Ok(())
    }

    /// Points one lookup at `id` if it leads nowhere yet, or (`from`) still
    /// leads to that contact; a lookup owned by anyone else is left alone.
    pub(super) async fn put_alias(
        &self,
        pk: &str,
        id: &ContactId,
        from: Option<&ContactId>,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(pk))
            .item(SK, s(keys::sk::ALIAS))
            .item(TYPE, s("alias"))
            .item("contact", s(id.as_str()));
        let put = match from {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(from) => put
                .condition_expression("attribute_not_exists(PK) OR contact = :from")
                .expression_attribute_values(":from", s(from.as_str())),
        };
        applied(put.send().await, "write alias").map(|_| ())
    }
}

impl ContactStore for DynamoStore {
    async fn find(&self, shop: &ShopDomain, identity: &Identity) -> Result<Resolution, StoreError> {
        self.resolve(shop, identity, false).await
    }

    async fn find_current(
        &self,
        shop: &ShopDomain,
        identity: &Identity,
    ) -> Result<Resolution, StoreError> {
        self.resolve(shop, identity, true).await
    }

    async fn load_for_update(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        self.load(shop, id, None, true).await
    }

    /// Read eventually consistent (half the units): a replica a moment
    /// behind answers the contact as it was, and the commit built on that
    /// fails on its version. Nothing found is asked again strongly (a
    /// contact just made; an empty answer costs half a unit).
    async fn load_active(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        self.load_from_replica(shop, id, Some(keys::KEPT_RUNS))
            .await
    }

    /// Eventually consistent as `load_active` is (nothing found is asked
    /// again strongly).
    async fn load_whole(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        self.load_from_replica(shop, id, None).await
    }

    async fn load_active_current(
        &self,
        shop: &ShopDomain,
        id: &ContactId,
    ) -> Result<Option<ContactState>, StoreError> {
        self.load(shop, id, Some(keys::KEPT_RUNS), true).await
    }

    async fn put_decision(
        &self,
        shop: &ShopDomain,
        contact: &ContactId,
        run: &Run,
        counts: &waymark_core::analytics::Counts,
    ) -> Result<bool, StoreError> {
        let pk = keys::contact(shop, contact);
        // A campaign's decision stays with the contact's items: the
        // frequency cap counts it on every load.
        let mut item = run_item(
            &pk,
            &run_place(run),
            &VersionedRun {
                run: run.clone(),
                version: 0,
            },
        )?;
        // Its counts ride on it, as on a commit's profile: the stream hands
        // them to the counters once.
        let seed = format!("decided#{contact}#{}", run.journey);
        if let Some(carried) = super::tally::counts_attribute(shop, &seed, counts)? {
            item.insert(super::tally::COUNTS.into(), carried);
        }
        self.put_new(item, "put decision").await
    }

    async fn commit(&self, c: Commit) -> Result<(), CommitError> {
        let shop = &c.contact.shop;
        let pk = keys::contact(shop, &c.contact.id);
        self.claim_aliases(shop, &c.contact.id, &c.identities)
            .await?;
        let table = self.table.as_str();
        let (cond, vals) = versioned(c.expected_version);
        let split = profile::split(&c.contact, &c.recent_events)?;
        let mut profile = contact_item(&pk, &c, &split.hot)?;
        // The results' counts ride on the profile this commit writes: the
        // stream hands them to the counters once (`tally.rs`), outside the
        // transaction.
        if let Some(carried) =
            super::tally::counts_attribute(shop, c.contact.id.as_str(), &c.counts)?
        {
            profile.insert(super::tally::COUNTS.into(), carried);
        }
        let read = self.loaded.at(&pk, c.expected_version);
        let parts = part_writes(
            table,
            &pk,
            read.as_ref().map(|r| &r.parts),
            split.parts,
            c.expected_version + 1,
        )?;
        profile::stamp(&mut profile, &parts.wrote, &parts.dropped);
        let mut writes = vec![put(table, profile, cond, vals)];
        writes.extend(parts.writes);
        if let Some(a) = &c.absorbed {
            writes.extend(absorbed_writes(table, shop, a)?);
        }
        let runs_read = read.as_ref().map(|r| &r.runs);
        for r in &c.runs {
            writes.extend(run_writes(table, &pk, r, runs_read)?);
        }
        for (journey, key, entry) in &c.expired {
            for sk in stored_at(journey, key, *entry, runs_read) {
                writes.push(delete(table, pk.clone(), sk));
            }
        }
        writes.extend(membership_writes(table, &c));
        for m in &c.outbox {
            let (condition, values) = outbox_condition(m);
            writes.push(put(table, outbox_item(m)?, condition, values));
        }
        let leftovers = c.absorbed.as_ref().map(|a| {
            let gone = keys::contact(shop, &a.id);
            let read = self.loaded.at(&gone, a.version).map(|r| r.runs);
            let runs = a
                .runs
                .iter()
                .flat_map(|(j, k, e)| stored_at(j, k, *e, read.as_ref()))
                .map(|sk| (gone.clone(), sk))
                .collect();
            merged_leftovers(table, shop, a, runs, &c.contact.id, &mut writes)
        });
        self.write_all(writes).await?;
        if let (Some(a), Some((browsers, runs))) = (&c.absorbed, leftovers) {
            self.repoint(shop, a, browsers, &c.contact.id).await?;
            // Idempotent; if cut short, what is left sits in the merged
            // profile's partition, which the person's erasure deletes whole
            // (and a tombstone's parts are never read back).
            self.delete_keys(runs).await?;
            self.delete_parts(keys::contact(shop, &a.id)).await?;
        }
        Ok(())
    }
}

/// The condition of a versioned write: new (`expected` 0), or still at the
/// version it was read at.
fn versioned(expected: u64) -> (&'static str, Option<Item>) {
    if expected == 0 {
        ("attribute_not_exists(PK)", None)
    } else {
        (
            "ver = :v",
            Some(HashMap::from([(":v".to_string(), n(expected))])),
        )
    }
}

/// The profile item, in the due index while a review is pending and in the
/// idle index at its inactivity day.
fn contact_item(pk: &str, c: &Commit, hot: &serde_json::Value) -> Result<Item, StoreError> {
    let mut item: Item = HashMap::from([
        (PK.into(), s(pk)),
        (SK.into(), s(keys::sk::CONTACT)),
        (TYPE.into(), s("contact")),
        (VERSION.into(), n(c.expected_version + 1)),
        (DOC.into(), doc(hot)?),
    ]);
    if let Some(review) = c.contact.schedule.review_at {
        item.insert(DUE_SHARD.into(), s(keys::shard(pk)));
        item.insert(DUE_AT.into(), n(review.as_millisecond()));
    }
    if let Some(idle) = c.contact.schedule.idle_at {
        let (shard, key) = keys::idle(waymark_core::activity::day_of(idle), pk);
        item.insert(IDLE_SHARD.into(), s(shard));
        item.insert(IDLE_KEY.into(), s(key));
    }
    Ok(item)
}

/// A merged profile leaves a tombstone (no index attributes: never due,
/// never idle) that lookups still naming it follow; an anonymous one is
/// deleted. Its memberships go either way.
fn absorbed_writes(
    table: &str,
    shop: &ShopDomain,
    a: &waymark_app::ports::Absorbed,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let gone = keys::contact(shop, &a.id);
    let mut writes = Vec::new();
    match &a.tombstone {
        Some(t) => {
            let tombstone: Item = HashMap::from([
                (PK.into(), s(&gone)),
                (SK.into(), s(keys::sk::CONTACT)),
                (TYPE.into(), s("contact")),
                (VERSION.into(), n(a.version + 1)),
                (
                    DOC.into(),
                    doc(&ContactDoc {
                        contact: t.clone(),
                        recent_events: Default::default(),
                    })?,
                ),
            ]);
            let (cond, vals) = versioned(a.version);
            writes.push(put(table, tombstone, cond, vals));
        }
        None => writes.push(delete_if(
            table,
            &gone,
            keys::sk::CONTACT.to_string(),
            a.version,
        )),
    }
    for seg in &a.segments {
        writes.push(delete(
            table,
            keys::segment(shop, seg),
            keys::member_sk(&a.id),
        ));
    }
    Ok(writes)
}

/// Where a run belongs: with the contact's other items while it goes on
/// (and a campaign's decision), past them once it has ended and is kept
/// only for its messages (`keys::kept_run_sk`).
fn run_place(run: &Run) -> String {
    if run.kept_for_messages() {
        keys::kept_run_sk(&run.journey, &run.key, run.entry)
    } else {
        keys::run_sk(&run.journey, &run.key, run.entry)
    }
}

/// Where a run stored before may be: where its contact's load read it
/// (`read`), or, not remembered, either place.
fn stored_at(
    journey: &str,
    key: &str,
    entry: u32,
    read: Option<&std::collections::BTreeSet<String>>,
) -> Vec<String> {
    let places = [
        keys::run_sk(journey, key, entry),
        keys::kept_run_sk(journey, key, entry),
    ];
    match read {
        Some(read) if places.iter().any(|p| read.contains(p)) => {
            places.into_iter().filter(|p| read.contains(p)).collect()
        }
        _ => places.into(),
    }
}

/// A run's writes: put where it belongs (`run_place`) under the version it
/// was read at; one that ended and moves out of the ordinary load's way is
/// put anew there and deleted where it was read, under that version. A
/// run that goes on never was elsewhere; one kept for its messages whose
/// place was not remembered (`read`) is put where it belongs and cleared
/// from the other place.
fn run_writes(
    table: &str,
    pk: &str,
    r: &VersionedRun,
    read: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let to = run_place(&r.run);
    let item = run_item(pk, &to, r)?;
    let (cond, vals) = versioned(r.version);
    if r.version == 0 || !r.run.kept_for_messages() {
        return Ok(vec![put(table, item, cond, vals)]);
    }
    let from = keys::run_sk(&r.run.journey, &r.run.key, r.run.entry);
    Ok(match read.map(|read| read.contains(&from)) {
        Some(false) => vec![put(table, item, cond, vals)],
        Some(true) => vec![
            put(table, item, "", None),
            delete_if(table, pk, from, r.version),
        ],
        None => vec![
            put(table, item, "attribute_not_exists(PK) OR ver = :v", vals),
            delete(table, pk.to_string(), from),
        ],
    })
}

/// A delete in a transaction, of the item only while at `version`.
fn delete_if(table: &str, pk: &str, sk: String, version: u64) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .condition_expression("ver = :v")
                .expression_attribute_values(":v", n(version))
                .build()
                .expect("table and key are set"),
        )
        .build()
}

/// A run item at `sk`, in the due index while it waits; an ended one
/// expires (its results are counted, the contact's history remembers its
/// entry).
fn run_item(pk: &str, sk: &str, r: &VersionedRun) -> Result<Item, StoreError> {
    let mut item: Item = HashMap::from([
        (PK.into(), s(pk)),
        (SK.into(), s(sk)),
        (TYPE.into(), s("run")),
        (VERSION.into(), n(r.version + 1)),
        ("status".into(), s(r.run.status.as_str())),
        (DOC.into(), doc(&r.run)?),
    ]);
    if r.run.is_active()
        && let Some(due) = r.run.wait_until
    {
        item.insert(DUE_SHARD.into(), s(keys::shard(pk)));
        item.insert(DUE_AT.into(), n(due.as_millisecond()));
    }
    if let Some(expires) = r.run.expires_at() {
        item.insert(TTL.into(), n(expires.as_second()));
    }
    Ok(item)
}

/// Segment membership items added and removed. Unconditional: the
/// contact's version check guards the commit.
fn membership_writes(table: &str, c: &Commit) -> Vec<TransactWriteItem> {
    let shop = &c.contact.shop;
    let mut writes = Vec::new();
    for seg in &c.segments_entered {
        let mut item: Item = HashMap::from([
            (PK.into(), s(keys::segment(shop, seg))),
            (SK.into(), s(keys::member_sk(&c.contact.id))),
            (TYPE.into(), s("member")),
            ("contact".into(), s(c.contact.id.as_str())),
        ]);
        if let Some(e) = &c.contact.identity.email {
            item.insert("email".into(), s(e.as_str()));
        }
        writes.push(put(table, item, "", None));
    }
    for seg in &c.segments_exited {
        writes.push(delete(
            table,
            keys::segment(shop, seg),
            keys::member_sk(&c.contact.id),
        ));
    }
    writes
}

/// A merged visitor's browsers and its runs' deletions (active ones first:
/// they are in the due index) go into the transaction as far as its 100
/// actions allow: a deleted visitor leaves nothing its lookups could lead
/// to. Returns what did not fit (browsers to re-point, run keys to delete),
/// for after the commit; a merged profile's tombstone leads here meanwhile.
fn merged_leftovers(
    table: &str,
    shop: &ShopDomain,
    a: &waymark_app::ports::Absorbed,
    mut runs: Vec<(String, String)>,
    into: &ContactId,
    writes: &mut Vec<TransactWriteItem>,
) -> (Vec<String>, Vec<(String, String)>) {
    let room = MAX_TRANSACTION_ITEMS.saturating_sub(writes.len());
    let runs_later = runs.split_off(room.min(runs.len()));
    for (pk, sk) in runs {
        writes.push(delete(table, pk, sk));
    }
    let mut browsers: Vec<String> = a
        .anonymous_ids
        .iter()
        .map(|x| keys::alias_anonymous(shop, x))
        .collect();
    browsers.sort();
    browsers.dedup();
    let room = MAX_TRANSACTION_ITEMS.saturating_sub(writes.len());
    let later = browsers.split_off(room.min(browsers.len()));
    for alias in browsers {
        let item: Item = HashMap::from([
            (PK.into(), s(alias)),
            (SK.into(), s(keys::sk::ALIAS)),
            (TYPE.into(), s("alias")),
            ("contact".into(), s(into.as_str())),
        ]);
        writes.push(put(table, item, "", None));
    }
    (later, runs_later)
}

/// A commit's writes of its profile's parts, and which it wrote and
/// deleted (the profile item names them: `profile::stamp`).
struct PartWrites {
    writes: Vec<TransactWriteItem>,
    wrote: Vec<String>,
    dropped: Vec<String>,
}

/// The writes of a profile's parts: those whose stored bytes differ from
/// what the commit's load read (`before`), each carrying the commit's
/// `version`, and deletions of those that are no more. Without that
/// load's record, every part is written.
fn part_writes(
    table: &str,
    pk: &str,
    before: Option<&profile::Parts>,
    parts: BTreeMap<String, serde_json::Value>,
    version: u64,
) -> Result<PartWrites, StoreError> {
    let empty = profile::Parts::new();
    let before = before.unwrap_or(&empty);
    let mut out = PartWrites {
        writes: Vec::new(),
        wrote: Vec::new(),
        dropped: Vec::new(),
    };
    for (sk, value) in &parts {
        let stored = doc(value)?;
        if before.get(sk) == Some(&profile::fingerprint(&stored)) {
            continue;
        }
        let item: Item = HashMap::from([
            (PK.into(), s(pk)),
            (SK.into(), s(sk)),
            (TYPE.into(), s("part")),
            (VERSION.into(), n(version)),
            (DOC.into(), stored),
        ]);
        out.writes.push(put(table, item, "", None));
        out.wrote.push(sk.clone());
    }
    // A slot of event ids the hot item no longer lists stays: a later
    // block takes it (a contact has as many as it ever had blocks at once).
    for sk in before
        .keys()
        .filter(|sk| !parts.contains_key(*sk) && !sk.starts_with(profile::EVENT_BLOCK_PREFIX))
    {
        out.writes.push(delete(table, pk.to_string(), sk.clone()));
        out.dropped.push(sk.clone());
    }
    Ok(out)
}

impl DynamoStore {
    /// Deletes what is left of a merged profile's parts.
    async fn delete_parts(&self, pk: String) -> Result<(), StoreError> {
        let parts: Vec<(String, String)> = self
            .partition(pk.clone(), "read merged profile's parts")
            .await?
            .iter()
            .filter_map(|i| i.get(SK).and_then(|v| v.as_s().ok()))
            .filter(|sk| profile::is_part(sk))
            .map(|sk| (pk.clone(), sk.clone()))
            .collect();
        self.delete_keys(parts).await.map(|_| ())
    }

    /// Writes a commit's items all or none. One item alone (a page view
    /// that changes only the profile) is one conditional put: a transaction
    /// would bill it twice for nothing to agree with.
    async fn write_all(&self, mut writes: Vec<TransactWriteItem>) -> Result<(), CommitError> {
        if writes.len() == 1
            && let Some(p) = writes[0].put.take()
        {
            let result = self
                .client
                .put_item()
                .table_name(p.table_name)
                .set_item(Some(p.item))
                .set_condition_expression(p.condition_expression)
                .set_expression_attribute_values(p.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failure(&e) => Err(CommitError::Conflict),
                Err(e) => Err(sdk_err("commit", e).into()),
            };
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if transaction_conflict(&e) => Err(CommitError::Conflict),
            Err(e) => Err(sdk_err("commit", e).into()),
        }
    }

    /// Points a merged contact's addresses and contracts at the contact it
    /// went into, each only if it still leads to the merged one (or to
    /// nothing): another contact's lookup is never taken. Idempotent; if it
    /// is cut short, the tombstone still leads there.
    pub(super) async fn repoint(
        &self,
        shop: &ShopDomain,
        a: &waymark_app::ports::Absorbed,
        browsers: Vec<String>,
        into: &ContactId,
    ) -> Result<(), StoreError> {
        let mut aliases: Vec<String> = a
            .emails
            .iter()
            .map(|e| keys::alias_email(shop, &e.lookup_key()))
            .chain(a.contracts.iter().map(|k| keys::alias_contract(shop, *k)))
            .chain(browsers)
            .collect();
        aliases.sort();
        aliases.dedup();
        for alias in aliases {
            self.put_alias(&alias, into, Some(&a.id)).await?;
        }
        Ok(())
    }
}

/// An unconditional delete in a transaction.
fn delete(table: &str, pk: String, sk: String) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            aws_sdk_dynamodb::types::Delete::builder()
                .table_name(table)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .build()
                .expect("table and key are set"),
        )
        .build()
}

/// A message is written where none is; one that replaces an unsent
/// message (a cancelled campaign's, decided again) also over one never
/// tried, or stopped by the cancel at its first claim; never over one that
/// went or may have (an earlier attempt): `EmailFate::of`'s `Unsent`, as a
/// condition.
fn outbox_condition(m: &OutboxMessage) -> (&'static str, Option<Item>) {
    if !m.replaces_unsent {
        return ("attribute_not_exists(PK)", None);
    }
    (
        "attribute_not_exists(PK) OR (st IN (:held, :queued) AND attempts = :zero) OR (st = :skipped AND skip_reason = :stopped AND attempts = :one)",
        Some(HashMap::from([
            (":held".to_string(), s("held")),
            (":queued".to_string(), s("queued")),
            (":zero".to_string(), n(0)),
            (":one".to_string(), n(1)),
            (":skipped".to_string(), s("skipped")),
            (":stopped".to_string(), s(waymark_core::campaign::STOPPED)),
        ])),
    )
}

pub(super) fn outbox_item(m: &OutboxMessage) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (PK.into(), s(keys::outbox(&m.shop, &m.id))),
        (SK.into(), s(keys::sk::OUTBOX)),
        (TYPE.into(), s("outbox")),
        // A message for later (a campaign's local-time wave) is `held`
        // until the timer queues it at its time.
        (
            "st".into(),
            s(if m.not_before.is_some() {
                "held"
            } else {
                "queued"
            }),
        ),
        ("attempts".into(), n(0)),
        ("slot_ms".into(), n(m.queued_at.as_millisecond())),
        ("journey".into(), s(&m.journey)),
        (DOC.into(), doc(m)?),
        // If its stream record is lost, the timer hands it on again.
        (
            DUE_SHARD.into(),
            s(keys::shard(&keys::outbox(&m.shop, &m.id))),
        ),
        (
            DUE_AT.into(),
            n(m.not_before
                .unwrap_or_else(|| {
                    m.queued_at
                        .checked_add(waymark_app::ports::REDRIVE_QUEUED)
                        .unwrap_or(m.queued_at)
                })
                .as_millisecond()),
        ),
    ]))
}
