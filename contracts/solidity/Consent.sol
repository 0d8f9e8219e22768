// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Registry} from "./Registry.sol";

/**
 * @title Vitalgate Consent
 * @notice A patient's grants of access to its streams, directly or as EIP-712 consents relayed by anyone,
 * plus break-glass emergency access, and the `canAccess` view that ingest checks on every request.
 *
 * Units (the same everywhere in this contract):
 * - `dataFrom`, `dataUntil`, `t`: milliseconds since the Unix epoch, the timestamps of the readings
 *   (uint48). The data window is inclusive at both ends: t is covered when dataFrom <= t <= dataUntil.
 * - `expiry`, `deadline`, break-glass `until`: seconds since the Unix epoch, compared with
 *   block.timestamp. A grant is active while block.timestamp < expiry (at expiry it has expired); a
 *   signature is usable while block.timestamp <= deadline (EIP-2612); break-glass is active while
 *   block.timestamp < until.
 * - `streams`: bitmask of stream ids, bit (1 << id), ids 0..8 (ecg, ppg, hr, spo2, temp, bp, glucose, acc, resp).
 *
 * There is at most one grant per (patient, grantee): a new grant replaces the previous one. A grantee is
 * a registered clinician or a care team; a clinician is also covered by the grants of the care teams it
 * belongs to. A banned requester is denied everything.
 */
contract Consent is EIP712, Nonces {
    /// @notice All nine streams.
    uint16 public constant ALL_STREAMS = 0x01ff;
    uint8 public constant STREAM_COUNT = 9;

    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(address patient,address grantee,uint16 streams,uint48 dataFrom,uint48 dataUntil,uint40 expiry,string purpose,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(address patient,address grantee,uint256 nonce,uint256 deadline)");

    struct Grant {
        uint16 streams;
        uint48 dataFrom; // ms, inclusive
        uint48 dataUntil; // ms, inclusive
        uint40 expiry; // s, exclusive
        uint40 grantedAt; // s (block.timestamp)
        bytes32 purposeHash; // keccak256(bytes(purpose))
    }

    Registry public immutable registry;
    /// @notice Longest break-glass session in seconds; a clinician asks for a duration up to this.
    uint40 public immutable breakGlassDuration;
    /// @notice Break-glass reason codes are 0..MAX_REASON_CODE: 0 unconscious or unresponsive,
    /// 1 life-threatening emergency, 2 patient cannot consent (other), 3 legal or public-health duty.
    uint8 public constant MAX_REASON_CODE = 3;
    /// @notice Most nonces `cancelNonces` consumes in one call (bounds its gas).
    uint256 public constant MAX_NONCES_CANCELLED = 64;

    mapping(address patient => mapping(address grantee => Grant)) private _grants;
    mapping(address patient => mapping(address clinician => uint40)) private _breakGlassUntil;

    event Granted(
        address indexed patient,
        address indexed grantee,
        uint16 streams,
        uint48 dataFrom,
        uint48 dataUntil,
        uint40 expiry,
        string purpose,
        bool bySignature
    );
    event Revoked(address indexed patient, address indexed grantee, bool bySignature);
    event BreakGlass(
        address indexed patient, address indexed clinician, uint40 until, uint8 reasonCode, string reason, uint32 use
    );
    event BreakGlassEnded(address indexed patient, address indexed clinician, address by);
    event NoncesCancelled(address indexed patient, uint256 fromNonce, uint256 toNonce);

    error NotPatient(address account);
    error InvalidGrantee(address grantee);
    error InvalidStreams(uint16 streams);
    error InvalidDataWindow(uint48 dataFrom, uint48 dataUntil);
    error InvalidExpiry(uint40 expiry);
    error PurposeRequired();
    error NoGrant(address patient, address grantee);
    error ExpiredDeadline(uint256 deadline);
    error InvalidSignature();
    error NotClinician(address account);
    error RequesterBanned(address account);
    error ReasonRequired();
    error InvalidReasonCode(uint8 code);
    error InvalidDuration(uint40 duration, uint40 max);
    error NoBreakGlass(address patient, address clinician);
    error NotPatientOrClinician(address account);
    error NothingToCancel(uint256 upTo, uint256 next);

    constructor(Registry registry_, uint40 breakGlassDuration_) EIP712("Vitalgate Consent", "1") {
        registry = registry_;
        breakGlassDuration = breakGlassDuration_;
    }

    // ---------------------------------------------------------------- grants

    /**
     * @notice The calling patient grants `grantee` access to `streams` for readings timestamped within
     * [dataFrom, dataUntil] (ms), until `expiry` (s, exclusive), for `purpose` (mandatory).
     */
    function grant(
        address grantee,
        uint16 streams,
        uint48 dataFrom,
        uint48 dataUntil,
        uint40 expiry,
        string calldata purpose
    ) external {
        _grant(msg.sender, grantee, streams, dataFrom, dataUntil, expiry, purpose, false);
    }

    /**
     * @notice The same grant, signed by the patient as the EIP-712 `Consent` type and relayed by anyone.
     * @param nonce must equal nonces(patient); each signature is usable once.
     * @param deadline seconds; the signature is usable while block.timestamp <= deadline.
     * @param signature 65-byte ECDSA signature by `patient` (or ERC-1271 if `patient` is a contract).
     */
    function grantBySig(
        address patient,
        address grantee,
        uint16 streams,
        uint48 dataFrom,
        uint48 dataUntil,
        uint40 expiry,
        string calldata purpose,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert ExpiredDeadline(deadline);
        bytes32 structHash = keccak256(
            abi.encode(
                CONSENT_TYPEHASH,
                patient,
                grantee,
                streams,
                dataFrom,
                dataUntil,
                expiry,
                keccak256(bytes(purpose)),
                nonce,
                deadline
            )
        );
        _checkSignature(patient, structHash, signature);
        _useCheckedNonce(patient, nonce);
        _grant(patient, grantee, streams, dataFrom, dataUntil, expiry, purpose, true);
    }

    /// @notice The calling patient revokes the grant it gave `grantee`.
    function revoke(address grantee) external {
        _revoke(msg.sender, grantee, false);
    }

    /// @notice The same revocation, signed by the patient as the EIP-712 `Revoke` type and relayed by anyone.
    function revokeBySig(address patient, address grantee, uint256 nonce, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert ExpiredDeadline(deadline);
        bytes32 structHash = keccak256(abi.encode(REVOKE_TYPEHASH, patient, grantee, nonce, deadline));
        _checkSignature(patient, structHash, signature);
        _useCheckedNonce(patient, nonce);
        _revoke(patient, grantee, true);
    }

    // ---------------------------------------------------------------- break-glass

    /**
     * @notice Emergency access: a registered, unbanned clinician opens all of `patient`'s streams, for
     * data of any time, for `duration` seconds (1..breakGlassDuration) from now. The reason is a code
     * from a fixed set (0..MAX_REASON_CODE, countable) plus mandatory free text, and the BreakGlass event
     * is always emitted. Every use is counted per clinician in the Registry; every use after the first is
     * a strike toward the ban threshold. Calling again restarts the session and counts again.
     */
    function breakGlass(address patient, uint8 reasonCode, string calldata reason, uint40 duration)
        external
        returns (uint40 until)
    {
        if (reasonCode > MAX_REASON_CODE) revert InvalidReasonCode(reasonCode);
        if (bytes(reason).length == 0) revert ReasonRequired();
        if (duration == 0 || duration > breakGlassDuration) revert InvalidDuration(duration, breakGlassDuration);
        if (!registry.isClinician(msg.sender)) revert NotClinician(msg.sender);
        if (registry.isBanned(msg.sender)) revert RequesterBanned(msg.sender);
        if (!registry.isPatient(patient)) revert NotPatient(patient);
        uint32 use = registry.countBreakGlass(msg.sender);
        until = uint40(block.timestamp) + duration;
        _breakGlassUntil[patient][msg.sender] = until;
        emit BreakGlass(patient, msg.sender, until, reasonCode, reason, use);
    }

    /// @notice Ends a break-glass session now. The patient can end any clinician's session on their data;
    /// a clinician can end their own.
    function endBreakGlass(address patient, address clinician) external {
        if (msg.sender != patient && msg.sender != clinician) revert NotPatientOrClinician(msg.sender);
        if (block.timestamp >= _breakGlassUntil[patient][clinician]) revert NoBreakGlass(patient, clinician);
        _breakGlassUntil[patient][clinician] = uint40(block.timestamp);
        emit BreakGlassEnded(patient, clinician, msg.sender);
    }

    /**
     * @notice The calling patient cancels every consent or revocation it signed with a nonce up to
     * `upTo` that nobody has relayed yet, by using those nonces up (at most MAX_NONCES_CANCELLED per call).
     */
    function cancelNonces(uint256 upTo) external {
        uint256 next = nonces(msg.sender);
        if (upTo < next) revert NothingToCancel(upTo, next);
        uint256 last = upTo - next >= MAX_NONCES_CANCELLED ? next + MAX_NONCES_CANCELLED - 1 : upTo;
        for (uint256 n = next; n <= last; n++) _useNonce(msg.sender);
        emit NoncesCancelled(msg.sender, next, last);
    }

    // ---------------------------------------------------------------- views

    /**
     * @notice Whether `grantee` may read `patient`'s stream `stream` for a reading timestamped `t` (ms),
     * now (block.timestamp). True when the grantee is not banned and one of these holds:
     * - it holds an active grant covering the stream and t;
     * - it is a registered clinician, and a care team it belongs to holds such a grant;
     * - it is a registered clinician with an active break-glass session for the patient.
     * A care team's own address can be queried too (its direct grant only).
     */
    function canAccess(address grantee, address patient, uint8 stream, uint48 t) external view returns (bool) {
        if (stream >= STREAM_COUNT) return false;
        if (registry.isBanned(grantee)) return false;
        uint16 bit = uint16(1) << stream;
        if (registry.isClinician(grantee)) {
            if (_covers(_grants[patient][grantee], bit, t)) return true;
            if (block.timestamp < _breakGlassUntil[patient][grantee]) return true;
            address[] memory teams = registry.careTeamsOf(grantee);
            for (uint256 i = 0; i < teams.length; i++) {
                if (_covers(_grants[patient][teams[i]], bit, t)) return true;
            }
            return false;
        }
        if (registry.isCareTeam(grantee)) return _covers(_grants[patient][grantee], bit, t);
        return false;
    }

    /// @notice The grant `patient` gave `grantee` (all zero when none).
    function grantOf(address patient, address grantee) external view returns (Grant memory) {
        return _grants[patient][grantee];
    }

    /// @notice Everything that decides what `clinician` may see of each of `patients`, read in one
    /// call: whether it holds the clinician role and is banned, its care teams, and per patient the
    /// grants to it and to each of its teams and its break-glass end. A patients view asks this once
    /// for its patients, where grantOf, careTeamsOf and breakGlassUntil would be three calls or more
    /// for each. `grants[i * (1 + teams.length)]` is `patients[i]`'s grant to the clinician and
    /// `grants[i * (1 + teams.length) + 1 + j]` its grant to `teams[j]`; `breakGlass[i]` as
    /// breakGlassUntil. Gas grows with patients × (1 + teams): callers ask for a few dozen at a time.
    function accessOf(address[] calldata patients, address clinician)
        external
        view
        returns (bool isClinician, bool banned, address[] memory teams, Grant[] memory grants, uint40[] memory breakGlass)
    {
        isClinician = registry.isClinician(clinician);
        banned = registry.isBanned(clinician);
        teams = registry.careTeamsOf(clinician);
        uint256 per = 1 + teams.length;
        grants = new Grant[](patients.length * per);
        breakGlass = new uint40[](patients.length);
        for (uint256 i = 0; i < patients.length; i++) {
            address p = patients[i];
            grants[i * per] = _grants[p][clinician];
            for (uint256 j = 0; j < teams.length; j++) grants[i * per + 1 + j] = _grants[p][teams[j]];
            breakGlass[i] = _breakGlassUntil[p][clinician];
        }
    }

    /// @notice Whether the grant is active now (exists and block.timestamp < expiry).
    function isGrantActive(address patient, address grantee) external view returns (bool) {
        return block.timestamp < _grants[patient][grantee].expiry;
    }

    /// @notice End (s, exclusive) of `clinician`'s break-glass session for `patient`; 0 if it never broke the glass.
    function breakGlassUntil(address patient, address clinician) external view returns (uint40) {
        return _breakGlassUntil[patient][clinician];
    }

    /// @notice The EIP-712 domain separator (name "Vitalgate Consent", version "1", this chain, this contract).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    function _grant(
        address patient,
        address grantee,
        uint16 streams,
        uint48 dataFrom,
        uint48 dataUntil,
        uint40 expiry,
        string calldata purpose,
        bool bySignature
    ) private {
        if (!registry.isPatient(patient)) revert NotPatient(patient);
        if (!registry.isClinician(grantee) && !registry.isCareTeam(grantee)) revert InvalidGrantee(grantee);
        if (streams == 0 || streams > ALL_STREAMS) revert InvalidStreams(streams);
        if (dataFrom > dataUntil) revert InvalidDataWindow(dataFrom, dataUntil);
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry);
        if (bytes(purpose).length == 0) revert PurposeRequired();
        _grants[patient][grantee] = Grant({
            streams: streams,
            dataFrom: dataFrom,
            dataUntil: dataUntil,
            expiry: expiry,
            grantedAt: uint40(block.timestamp),
            purposeHash: keccak256(bytes(purpose))
        });
        emit Granted(patient, grantee, streams, dataFrom, dataUntil, expiry, purpose, bySignature);
    }

    function _revoke(address patient, address grantee, bool bySignature) private {
        if (_grants[patient][grantee].expiry == 0) revert NoGrant(patient, grantee);
        delete _grants[patient][grantee];
        emit Revoked(patient, grantee, bySignature);
    }

    function _checkSignature(address signer, bytes32 structHash, bytes calldata signature) private view {
        if (!SignatureChecker.isValidSignatureNow(signer, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature();
        }
    }

    function _covers(Grant storage g, uint16 bit, uint48 t) private view returns (bool) {
        return block.timestamp < g.expiry && (g.streams & bit) != 0 && g.dataFrom <= t && t <= g.dataUntil;
    }
}
