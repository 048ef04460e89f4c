//! One block's way from an uploader to a receiver: the receiver's picker
//! chooses it (the seed's suggestion first), then it lands: the picker
//! records it, the links and statistics count it, and the piece is
//! delivered. In a locality run a block may wait at a capped link between
//! networks in between (see [`super::locality`]).

use riffle_policies::picker::{Received, Remote};
use riffle_policies::PeerKey;
use riffle_protocol::{BlockRef, PieceIndex};

use super::{Sim, PIECE_BYTES};
use crate::sim::peers::{Peers, PUBLISHER};
use crate::sim::SimError;

impl Sim<'_> {
    /// The block `to`'s picker takes from `up` (reserved for `up` there):
    /// the piece `up` suggests if it is a seed, else by the picker's own
    /// rule. None: nothing `to` wants from `up` that is not already on
    /// its way.
    pub(super) fn pick_block(&mut self, up: usize, to: usize) -> Option<BlockRef> {
        let up_key = PeerKey(self.peers.ids[up]);
        let suggested = self.suggestion(up, to);
        self.blocks.clear();
        let Peers {
            pickers, bitfields, ..
        } = &mut self.peers;
        let picker = pickers[to].as_mut()?;
        let remote = Remote {
            peer: up_key,
            has: &bitfields[up],
            snubbed: false,
        };
        if let Some(piece) = suggested {
            // The seed's choice first (BEP 6 suggestion), as the
            // engine's leechers do.
            picker.pick_piece(remote, piece, 1, &mut self.blocks);
        }
        let more = 1usize.saturating_sub(self.blocks.len());
        picker.pick(remote, more, &mut self.blocks);
        self.blocks.first().copied()
    }

    /// `block` from `up` arrives at `to`: its picker records it (one block
    /// per piece: the piece passes), the link and the statistics count it,
    /// and `to` gets the piece. A duplicate (end-game) is dropped.
    pub(super) fn land(&mut self, up: usize, to: usize, block: BlockRef) -> Result<(), SimError> {
        let up_key = PeerKey(self.peers.ids[up]);
        let Some(picker) = self.peers.pickers[to].as_mut() else {
            return Ok(());
        };
        self.cancels.clear();
        match picker.block_received(up_key, block, &mut self.cancels) {
            Ok(Received::PieceComplete) => picker
                .piece_passed(block.piece)
                .map_err(|e| SimError::Policy(e.to_string()))?,
            Ok(_) => return Ok(()),
            Err(e) => return Err(SimError::Policy(e.to_string())),
        }
        let piece = block.piece.get();
        if let Some(p) = self.peers.links[up].find(to) {
            let link = &mut self.peers.links[up].list[p];
            link.sent += 1;
            link.sent_since_unchoke += PIECE_BYTES;
        }
        if let Some(p) = self.peers.links[to].find(up) {
            self.peers.links[to].list[p].got += 1;
        }
        self.stats.block_sent(up == PUBLISHER);
        self.count_landed(up, to);
        if !self.peers.bitfields[to].has(PieceIndex::new(piece)) {
            self.follow_cpm(up, to, piece);
        }
        self.deliver(to, piece)
    }
}
