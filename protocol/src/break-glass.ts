/**
 * Break-glass reason codes, as the Consent contract fixes them (0..MAX_REASON_CODE): the index is
 * the code. Shared by the CLI and the dashboard so both name a code the same way.
 */
export const BREAK_GLASS_REASONS = ['unconscious or unresponsive', 'life-threatening emergency', 'patient cannot consent', 'legal or public-health duty'] as const;
