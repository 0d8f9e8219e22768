// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RootLog} from "./RootLog.sol";
import {Registry} from "./Registry.sol";

/**
 * @title Vitalgate DataAnchor
 * @notice Gateways anchor the Merkle root of the batch ids (SHA-256 of the sealed batch bytes) they
 * sealed in one anchor period. One transaction per gateway per period, costing the same whatever the
 * number of batches: the root's record is one storage slot; count and uri are only in the event.
 *
 * "For its own patients": the caller must be a registered gateway that is not banned and serves at
 * least one patient (Registry.canAnchor, one storage read). The chain cannot see which patients a
 * sealed batch belongs to; a verifier checks the batch header's patient against
 * Registry.gatewayOf(patient) == the submitter, and looks the root up under that submitter.
 */
contract DataAnchor is RootLog {
    Registry public immutable registry;

    event Anchored(
        bytes32 indexed root, address indexed gateway, uint32 count, uint48 firstTs, uint48 lastTs, string uri
    );

    error NotAnchoringGateway(address account);

    constructor(Registry registry_) {
        registry = registry_;
    }

    /**
     * @notice Anchors `root`, the StandardMerkleTree root over `count` batch ids whose readings span
     * [firstTs, lastTs] (ms). `uri` (at most MAX_URI_BYTES) says where the batches or the tree can be fetched. A root is
     * anchored once per gateway: the same gateway sending it again reverts; another gateway's copy is its own record.
     */
    function anchor(bytes32 root, uint32 count, uint48 firstTs, uint48 lastTs, string calldata uri) external {
        if (!registry.canAnchor(msg.sender)) revert NotAnchoringGateway(msg.sender);
        _record(root, count, firstTs, lastTs, bytes(uri).length);
        emit Anchored(root, msg.sender, count, firstTs, lastTs, uri);
    }

    /// @notice Whether batch `batchId` is in the root `root` anchored by `gateway`, by `proof` (from the batch Merkle helpers).
    function verifyBatch(address gateway, bytes32 root, bytes32 batchId, bytes32[] calldata proof) external view returns (bool) {
        return _verify(gateway, root, batchId, proof);
    }
}
