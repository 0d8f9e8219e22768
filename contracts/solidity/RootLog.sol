// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title RootLog
 * @notice Shared base of DataAnchor and AuditLog: an append-only set of Merkle roots per submitter, each
 * recorded in one storage slot (submitter address + first and last timestamp), with `count` and `uri`
 * only in the event, so that recording a root costs the same whatever the number of leaves it covers.
 *
 * Roots are kept per submitter: a root is a claim by one account about its own data. If roots were
 * global, anyone allowed to submit could copy a pending root from the mempool and record it first,
 * blocking the rightful submitter's transaction and taking the credit in the record.
 *
 * Leaves follow the StandardMerkleTree of OpenZeppelin's merkle-tree npm package, leaf encoding ['bytes32']:
 * leaf = keccak256(bytes.concat(keccak256(abi.encode(value)))), pairs hashed sorted (MerkleProof).
 * Timestamps `firstTs`/`lastTs` are milliseconds since the Unix epoch (uint48).
 */
abstract contract RootLog {
    /// @dev Packed in one slot: 160 + 48 + 48 = 256 bits. `submitter == address(0)` means "not recorded"; otherwise
    /// it is the submitter the record is filed under.
    struct RootRecord {
        address submitter;
        uint48 firstTs;
        uint48 lastTs;
    }

    /// @notice Longest `uri` accepted: bounds the calldata and event cost, so that recording a root stays
    /// under 60,000 gas (each uri byte costs about 24 gas: 16 as calldata, 8 in the log).
    uint256 public constant MAX_URI_BYTES = 160;

    mapping(address submitter => mapping(bytes32 root => RootRecord)) private _roots;

    error ZeroRoot();
    error EmptyRoot();
    error InvalidTimeRange(uint48 firstTs, uint48 lastTs);
    error DuplicateRoot(address submitter, bytes32 root);
    error UriTooLong(uint256 length);

    function _record(bytes32 root, uint32 count, uint48 firstTs, uint48 lastTs, uint256 uriLength) internal {
        if (root == bytes32(0)) revert ZeroRoot();
        if (uriLength > MAX_URI_BYTES) revert UriTooLong(uriLength);
        if (count == 0) revert EmptyRoot();
        if (firstTs > lastTs) revert InvalidTimeRange(firstTs, lastTs);
        RootRecord storage r = _roots[msg.sender][root];
        if (r.submitter != address(0)) revert DuplicateRoot(msg.sender, root);
        r.submitter = msg.sender;
        r.firstTs = firstTs;
        r.lastTs = lastTs;
    }

    /// @notice The record of `root` by `submitter`: the time range (ms) of its leaves; all zero if that account never recorded it.
    function rootRecord(address submitter, bytes32 root) external view returns (RootRecord memory) {
        return _roots[submitter][root];
    }

    function isRecorded(address submitter, bytes32 root) public view returns (bool) {
        return _roots[submitter][root].submitter != address(0);
    }

    /// @notice The leaf that commits to `value` (a batch id or an access-log entry hash).
    function leafOf(bytes32 value) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(value))));
    }

    /// @notice Whether `value` is a leaf of the root `root` recorded by `submitter`, by `proof`.
    function _verify(address submitter, bytes32 root, bytes32 value, bytes32[] calldata proof) internal view returns (bool) {
        return isRecorded(submitter, root) && MerkleProof.verifyCalldata(proof, root, leafOf(value));
    }
}
