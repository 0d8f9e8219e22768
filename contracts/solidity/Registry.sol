// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/**
 * @title Vitalgate Registry
 * @notice Who is who: the admin, gateways, patients, clinicians, care teams and the auditor (the ingest
 * service's account); each clinician's encryption public key; which gateway serves which patient; and
 * the bans of misbehaving requesters (Nguyen et al. 2019).
 *
 * Roles are OpenZeppelin AccessControl roles whose admin is DEFAULT_ADMIN_ROLE ("the admin"):
 * - GATEWAY_ROLE: may anchor batch roots in DataAnchor while it serves at least one patient.
 * - PATIENT_ROLE: may grant and revoke consent. Given only by {registerPatient}, so that every patient
 *   has a patientRef.
 * - CLINICIAN_ROLE: may receive grants, join care teams and break the glass. Given only by
 *   {registerClinician}, so that every clinician has an encryption key.
 * - AUDITOR_ROLE: the ingest service. Reports denied requests (which lead to a ban past a threshold),
 *   may ban, and anchors access-log roots in AuditLog.
 * - BREAK_GLASS_ROLE: the Consent contract. Counts each clinician's break-glass uses; every use after
 *   the first counts as a strike toward the same ban threshold as denied requests.
 * Care teams are not accounts: a care team is a pseudo-address ({careTeamAddress}) with no private key,
 * which can be the grantee of a consent; its members are registered clinicians.
 *
 * A patient is an Ethereum address (the patient's key). The off-chain id (e.g. "patient-0001") maps to
 * it through `patientRef`, any non-zero bytes32 the enrolling gateway chooses. Vitalgate gateways use a
 * keyed hash under a key derived from the patient's master secret (protocol `derivePatientRef`), so
 * a guessable id cannot be looked up on chain by anyone but the patient's own gateway.
 */
contract Registry is AccessControl {
    using EnumerableSet for EnumerableSet.AddressSet;

    bytes32 public constant GATEWAY_ROLE = keccak256("vitalgate.role.gateway");
    bytes32 public constant PATIENT_ROLE = keccak256("vitalgate.role.patient");
    bytes32 public constant CLINICIAN_ROLE = keccak256("vitalgate.role.clinician");
    bytes32 public constant AUDITOR_ROLE = keccak256("vitalgate.role.auditor");
    bytes32 public constant BREAK_GLASS_ROLE = keccak256("vitalgate.role.break-glass");

    /// @notice A clinician may belong to at most this many care teams (bounds the loop in Consent.canAccess).
    uint256 public constant MAX_TEAMS_PER_CLINICIAN = 16;

    /// @dev Everything DataAnchor needs about an account, packed in one storage slot so that an anchor
    /// reads one slot here. `gateway` mirrors GATEWAY_ROLE.
    struct Account {
        bool gateway;
        bool banned;
        uint32 patients; // number of patients this gateway serves
        uint32 denied; // denied requests reported (and repeated break-glass uses) since the last unban
        uint32 breakGlassUses; // every break-glass use, ever
    }

    mapping(address account => Account) private _accounts;
    mapping(address patient => bytes32) private _patientRef;
    mapping(bytes32 patientRef => address) private _patientByRef;
    mapping(address patient => address) private _gatewayOf;
    mapping(address clinician => bytes) private _encryptionKey;

    uint256 public careTeamCount;
    mapping(address team => bool) private _isCareTeam;
    mapping(address team => EnumerableSet.AddressSet) private _members;
    mapping(address clinician => EnumerableSet.AddressSet) private _teams;

    /// @notice Denied requests after which a requester is banned automatically; 0 disables the auto-ban.
    uint32 public denyThreshold;

    event GatewayRegistered(address indexed gateway);
    event PatientRegistered(address indexed patient, bytes32 indexed patientRef);
    event PatientGatewaySet(address indexed patient, address indexed gateway, address indexed previousGateway);
    event ClinicianRegistered(address indexed clinician, bytes encryptionKey);
    event EncryptionKeySet(address indexed clinician, bytes encryptionKey);
    event CareTeamCreated(address indexed team, uint256 indexed index, string name);
    event CareTeamMemberAdded(address indexed team, address indexed clinician);
    event CareTeamMemberRemoved(address indexed team, address indexed clinician);
    event DeniedReported(address indexed requester, uint32 count, uint32 total);
    event RequesterBanned(address indexed requester, address indexed by, string reason);
    event RequesterUnbanned(address indexed requester, address indexed by);
    event DenyThresholdSet(uint32 threshold);

    error ZeroAddress();
    error UseRegisterFunction(bytes32 role);
    error AlreadyRegistered(address account);
    error InvalidPatientRef(bytes32 patientRef);
    error PatientRefTaken(bytes32 patientRef);
    error NotGateway(address account);
    error NotPatient(address account);
    error NotClinician(address account);
    error InvalidEncryptionKey();
    error UnknownCareTeam(address team);
    error AlreadyMember(address team, address clinician);
    error NotMember(address team, address clinician);
    error TooManyTeams(address clinician);
    error Unauthorized(address account);
    error AlreadyBanned(address account);
    error NotBanned(address account);
    error ReasonRequired();

    /**
     * @param admin receives DEFAULT_ADMIN_ROLE.
     * @param denyThreshold_ denied requests that ban a requester automatically (0 = never).
     */
    constructor(address admin, uint32 denyThreshold_) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        denyThreshold = denyThreshold_;
        emit DenyThresholdSet(denyThreshold_);
    }

    // ---------------------------------------------------------------- registration (admin)

    /// @notice Registers a gateway account. Same as grantRole(GATEWAY_ROLE, gateway).
    function registerGateway(address gateway) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (gateway == address(0)) revert ZeroAddress();
        if (!_grantRole(GATEWAY_ROLE, gateway)) revert AlreadyRegistered(gateway);
        emit GatewayRegistered(gateway);
    }

    /**
     * @notice Registers a patient with its off-chain reference and binds it to the gateway that serves it.
     * @param patient the patient's address (its key signs consents).
     * @param patientRef non-zero, unique; see the contract notice.
     * @param gateway a registered gateway.
     */
    function registerPatient(address patient, bytes32 patientRef, address gateway)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (patient == address(0)) revert ZeroAddress();
        if (patientRef == bytes32(0)) revert InvalidPatientRef(patientRef);
        if (_patientRef[patient] != bytes32(0)) revert AlreadyRegistered(patient);
        if (_patientByRef[patientRef] != address(0)) revert PatientRefTaken(patientRef);
        if (!_accounts[gateway].gateway) revert NotGateway(gateway);
        _patientRef[patient] = patientRef;
        _patientByRef[patientRef] = patient;
        super._grantRole(PATIENT_ROLE, patient);
        emit PatientRegistered(patient, patientRef);
        _setGateway(patient, gateway);
    }

    /**
     * @notice Moves a patient to another registered gateway. Callable by the admin or by the patient.
     */
    function setPatientGateway(address patient, address gateway) external {
        if (msg.sender != patient && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) revert Unauthorized(msg.sender);
        if (!hasRole(PATIENT_ROLE, patient)) revert NotPatient(patient);
        if (!_accounts[gateway].gateway) revert NotGateway(gateway);
        _setGateway(patient, gateway);
    }

    /**
     * @notice Registers a clinician with the public key that key envelopes are encrypted to.
     * @param encryptionKey 32 bytes (X25519), 33 (compressed secp256k1) or 65 (uncompressed secp256k1).
     */
    function registerClinician(address clinician, bytes calldata encryptionKey)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (clinician == address(0)) revert ZeroAddress();
        _checkKey(encryptionKey);
        if (hasRole(CLINICIAN_ROLE, clinician)) revert AlreadyRegistered(clinician);
        super._grantRole(CLINICIAN_ROLE, clinician);
        _encryptionKey[clinician] = encryptionKey;
        emit ClinicianRegistered(clinician, encryptionKey);
    }

    /// @notice A registered clinician replaces its own encryption key.
    function setEncryptionKey(bytes calldata encryptionKey) external {
        if (!hasRole(CLINICIAN_ROLE, msg.sender)) revert NotClinician(msg.sender);
        _checkKey(encryptionKey);
        _encryptionKey[msg.sender] = encryptionKey;
        emit EncryptionKeySet(msg.sender, encryptionKey);
    }

    /// @dev PATIENT_ROLE and CLINICIAN_ROLE carry data (patientRef, key): they are given only by the register functions.
    function grantRole(bytes32 role, address account) public override {
        if (role == PATIENT_ROLE || role == CLINICIAN_ROLE) revert UseRegisterFunction(role);
        super.grantRole(role, account);
    }

    // ---------------------------------------------------------------- care teams (admin)

    /// @notice The pseudo-address of the care team with this 1-based index. Nobody holds its private key.
    function careTeamAddress(uint256 index) public view returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("vitalgate.care-team", block.chainid, address(this), index)))));
    }

    /// @notice Creates a care team; its address is in the CareTeamCreated event and is careTeamAddress(careTeamCount).
    function createCareTeam(string calldata name) external onlyRole(DEFAULT_ADMIN_ROLE) returns (address team) {
        uint256 index = ++careTeamCount;
        team = careTeamAddress(index);
        _isCareTeam[team] = true;
        emit CareTeamCreated(team, index, name);
    }

    function addCareTeamMember(address team, address clinician) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_isCareTeam[team]) revert UnknownCareTeam(team);
        if (!hasRole(CLINICIAN_ROLE, clinician)) revert NotClinician(clinician);
        if (_teams[clinician].length() >= MAX_TEAMS_PER_CLINICIAN) revert TooManyTeams(clinician);
        if (!_members[team].add(clinician)) revert AlreadyMember(team, clinician);
        _teams[clinician].add(team);
        emit CareTeamMemberAdded(team, clinician);
    }

    function removeCareTeamMember(address team, address clinician) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_members[team].remove(clinician)) revert NotMember(team, clinician);
        _teams[clinician].remove(team);
        emit CareTeamMemberRemoved(team, clinician);
    }

    // ---------------------------------------------------------------- penalties

    /**
     * @notice The auditor (ingest) reports `count` denied requests by `requester`. Once the total since
     * the last unban reaches `denyThreshold` (if non-zero), the requester is banned.
     */
    function reportDenied(address requester, uint32 count) external onlyRole(AUDITOR_ROLE) {
        _strike(requester, count, "repeated denied requests");
    }

    /**
     * @notice Consent counts a break-glass use by `clinician`. The first use is free; every later one is
     * also a strike toward `denyThreshold`, so emergency access cannot become a routine way round consent.
     * @return uses the clinician's break-glass uses so far, this one included.
     */
    function countBreakGlass(address clinician) external onlyRole(BREAK_GLASS_ROLE) returns (uint32 uses) {
        Account storage a = _accounts[clinician];
        uses = a.breakGlassUses + 1;
        a.breakGlassUses = uses;
        if (uses > 1) _strike(clinician, 1, "repeated break-glass use");
    }

    function _strike(address requester, uint32 count, string memory reason) private {
        Account storage a = _accounts[requester];
        uint32 total = a.denied + count;
        a.denied = total;
        emit DeniedReported(requester, count, total);
        uint32 threshold = denyThreshold;
        if (threshold != 0 && total >= threshold && !a.banned) {
            a.banned = true;
            emit RequesterBanned(requester, msg.sender, reason);
        }
    }

    function breakGlassUsesOf(address clinician) external view returns (uint32) {
        return _accounts[clinician].breakGlassUses;
    }

    /// @notice Bans a requester: it fails canAccess, cannot break the glass and (a gateway) cannot anchor.
    /// Callable by the admin or the auditor. `reason` is mandatory.
    function ban(address requester, string calldata reason) external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(AUDITOR_ROLE, msg.sender)) {
            revert Unauthorized(msg.sender);
        }
        if (bytes(reason).length == 0) revert ReasonRequired();
        Account storage a = _accounts[requester];
        if (a.banned) revert AlreadyBanned(requester);
        a.banned = true;
        emit RequesterBanned(requester, msg.sender, reason);
    }

    /// @notice Lifts a ban and resets the denied-request count. Admin only.
    function unban(address requester) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Account storage a = _accounts[requester];
        if (!a.banned) revert NotBanned(requester);
        a.banned = false;
        a.denied = 0;
        emit RequesterUnbanned(requester, msg.sender);
    }

    function setDenyThreshold(uint32 threshold) external onlyRole(DEFAULT_ADMIN_ROLE) {
        denyThreshold = threshold;
        emit DenyThresholdSet(threshold);
    }

    // ---------------------------------------------------------------- views

    function isGateway(address account) external view returns (bool) {
        return _accounts[account].gateway;
    }

    function isPatient(address account) external view returns (bool) {
        return hasRole(PATIENT_ROLE, account);
    }

    function isClinician(address account) external view returns (bool) {
        return hasRole(CLINICIAN_ROLE, account);
    }

    function isCareTeam(address account) external view returns (bool) {
        return _isCareTeam[account];
    }

    function isBanned(address account) external view returns (bool) {
        return _accounts[account].banned;
    }

    function deniedCount(address account) external view returns (uint32) {
        return _accounts[account].denied;
    }

    /// @notice True when `gateway` is a registered gateway, is not banned and serves at least one patient.
    /// One storage read: this is what DataAnchor.anchor checks.
    function canAnchor(address gateway) external view returns (bool) {
        Account memory a = _accounts[gateway];
        return a.gateway && !a.banned && a.patients != 0;
    }

    /// @notice Number of patients bound to `gateway`.
    function patientCountOf(address gateway) external view returns (uint32) {
        return _accounts[gateway].patients;
    }

    function patientRefOf(address patient) external view returns (bytes32) {
        return _patientRef[patient];
    }

    function patientByRef(bytes32 patientRef) external view returns (address) {
        return _patientByRef[patientRef];
    }

    function gatewayOf(address patient) external view returns (address) {
        return _gatewayOf[patient];
    }

    function encryptionKeyOf(address clinician) external view returns (bytes memory) {
        return _encryptionKey[clinician];
    }

    function careTeamMembers(address team) external view returns (address[] memory) {
        return _members[team].values();
    }

    function careTeamsOf(address clinician) external view returns (address[] memory) {
        return _teams[clinician].values();
    }

    function isCareTeamMember(address team, address clinician) external view returns (bool) {
        return _members[team].contains(clinician);
    }

    // ---------------------------------------------------------------- internals

    function _setGateway(address patient, address gateway) private {
        address previous = _gatewayOf[patient];
        if (previous != address(0)) _accounts[previous].patients -= 1;
        _accounts[gateway].patients += 1;
        _gatewayOf[patient] = gateway;
        emit PatientGatewaySet(patient, gateway, previous);
    }

    function _checkKey(bytes calldata key) private pure {
        uint256 n = key.length;
        if (n != 32 && n != 33 && n != 65) revert InvalidEncryptionKey();
    }

    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == GATEWAY_ROLE) _accounts[account].gateway = true;
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == GATEWAY_ROLE) _accounts[account].gateway = false;
    }
}
