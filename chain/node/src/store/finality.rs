//! What the store keeps for finality and accountability: this authority's
//! last vote, certificates of justified checkpoints, the finalized
//! checkpoint's proof (the latest, and one per [`PROOF_PERIOD`] heights),
//! and evidence of equivocating blocks and slashable votes.

use super::*;

impl Store {
    /// Records evidence of equivocation (kept forever; small and rare).
    pub(crate) fn put_evidence(&self, evidence: &Evidence) -> Result<(), StoreError> {
        let mut id = evidence.proposer.0.to_vec();
        id.extend_from_slice(&evidence.slot.to_be_bytes());
        let mut batch = Writes::default();
        batch.insert(key(EVIDENCE, &id), codec::encode(evidence));
        self.apply_flushed(batch)
    }

    /// Records this authority's vote as its last, flushed: only then may it
    /// leave the node (FINALITY.md V2).
    pub(crate) fn put_last_vote(&self, vote: &SignedVote) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        batch.insert(META_LAST_VOTE, codec::encode(vote));
        self.apply_flushed(batch)
    }

    /// This authority's last vote.
    pub fn last_vote(&self) -> Result<Option<SignedVote>, StoreError> {
        self.decode_meta(META_LAST_VOTE)
    }

    /// Records slashable votes (kept forever; small and rare).
    pub(crate) fn put_vote_evidence(&self, evidence: &VoteEvidence) -> Result<(), StoreError> {
        let mut id = evidence.authority.0.to_vec();
        id.extend_from_slice(&evidence.second.vote.target.slot.to_be_bytes());
        id.extend_from_slice(&codec::encode(&evidence.offence));
        id.extend_from_slice(&evidence.first.signature.0);
        id.extend_from_slice(&evidence.second.signature.0);
        let mut batch = Writes::default();
        batch.insert(key(VOTE_EVIDENCE, &id), codec::encode(evidence));
        self.apply_flushed(batch)
    }

    /// All recorded vote evidence, by authority and target slot.
    pub fn vote_evidence(&self) -> Result<Vec<VoteEvidence>, StoreError> {
        self.scan_decoded(VOTE_EVIDENCE)
    }

    /// Keeps a certificate of a justified checkpoint. Not flushed: a lost
    /// certificate is fetched again from peers.
    pub(crate) fn put_certificate(&self, certificate: &Certificate) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        batch.insert(
            key(CERTIFICATE, &codec::encode(&certificate.target)),
            codec::encode(certificate),
        );
        self.db.apply(batch)
    }

    /// The certificates kept, lowest target slot first.
    pub fn certificates(&self) -> Result<Vec<Certificate>, StoreError> {
        self.scan_decoded(CERTIFICATE)
    }

    /// Drops the certificates of checkpoints below `slot`.
    pub(crate) fn forget_certificates_below(&self, slot: u64) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        for entry in self.db.scan_prefix([CERTIFICATE]) {
            let (stored_key, _) = entry?;
            let checkpoint: Checkpoint = codec::decode(&stored_key[1..])?;
            if checkpoint.slot < slot {
                batch.remove(stored_key);
            }
        }
        self.db.apply(batch)
    }

    /// Commits a new finalized checkpoint with its proof and drops the undo
    /// data of the blocks it made final, in one flushed batch.
    pub(crate) fn commit_finality(
        &self,
        finality: &Finality,
        period_height: Option<u64>,
        newly_final: &[Hash],
    ) -> Result<(), StoreError> {
        let mut batch = Writes::default();
        let encoded = codec::encode(finality);
        batch.insert(META_FINALITY, encoded.clone());
        if let Some(height) = period_height {
            batch.insert(key(PROOF, &height.to_be_bytes()), encoded);
        }
        for hash in newly_final {
            batch.remove(key(UNDO, &hash.0));
        }
        self.apply_flushed(batch)
    }

    /// The latest finality committed.
    pub fn finality(&self) -> Result<Option<Finality>, StoreError> {
        self.decode_meta(META_FINALITY)
    }

    /// The kept finality whose finalized checkpoint is the lowest at or
    /// above `height`, or the latest.
    pub fn finality_covering(&self, height: u64) -> Result<Option<Finality>, StoreError> {
        for entry in self
            .db
            .range(key(PROOF, &height.to_be_bytes()), Some(key(PROOF + 1, &[])))
        {
            let (_, bytes) = entry?;
            let finality: Finality = codec::decode(&bytes)?;
            if finality.link.source.height >= height {
                return Ok(Some(finality));
            }
        }
        self.finality()
    }

    /// All recorded equivocation evidence, by proposer and slot.
    pub fn evidence(&self) -> Result<Vec<Evidence>, StoreError> {
        self.db
            .scan_prefix([EVIDENCE])
            .map(|entry| {
                let (_, bytes) = entry?;
                codec::decode(&bytes).map_err(StoreError::from)
            })
            .collect()
    }
}
