// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RootLog} from "./RootLog.sol";
import {Registry} from "./Registry.sol";

/**
 * @title Vitalgate AuditLog
 * @notice The auditor (ingest, Registry.AUDITOR_ROLE) records the Merkle root of its access-log entries
 * (every allow/deny decision) each period. Leaves are the entries' 32-byte hashes, with the same
 * StandardMerkleTree ['bytes32'] leaf rule as DataAnchor. A root is recorded once per auditor.
 */
contract AuditLog is RootLog {
    Registry public immutable registry;
    bytes32 private immutable _auditorRole;

    event AccessLogAnchored(
        bytes32 indexed root, address indexed auditor, uint32 count, uint48 firstTs, uint48 lastTs, string uri
    );

    error NotAuditor(address account);

    constructor(Registry registry_) {
        registry = registry_;
        _auditorRole = registry_.AUDITOR_ROLE();
    }

    /// @notice Records `root` over `count` access-log entries whose times span [firstTs, lastTs] (ms).
    function anchorAccessLog(bytes32 root, uint32 count, uint48 firstTs, uint48 lastTs, string calldata uri)
        external
    {
        if (!registry.hasRole(_auditorRole, msg.sender)) revert NotAuditor(msg.sender);
        _record(root, count, firstTs, lastTs, bytes(uri).length);
        emit AccessLogAnchored(root, msg.sender, count, firstTs, lastTs, uri);
    }

    /// @notice Whether access-log entry hash `entry` is in the root `root` recorded by `auditor`, by `proof`.
    function verifyEntry(address auditor, bytes32 root, bytes32 entry, bytes32[] calldata proof) external view returns (bool) {
        return _verify(auditor, root, entry, proof);
    }
}
