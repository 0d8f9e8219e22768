/**
 * What the siwe package takes from ethers, for the browser bundle only (scripts/build.mjs points
 * siwe's `require("ethers")` here). siwe is CommonJS and requires the whole ethers namespace, which
 * no bundler can tree-shake: 650 KiB of the page's script, parsed before the first request. The
 * page only formats its sign-in message with siwe; these are the names siwe's code reads.
 */
import { Contract, getAddress, hashMessage, verifyMessage } from 'ethers';

export { Contract, getAddress, hashMessage, verifyMessage };
export const ethers = { getAddress, hashMessage, verifyMessage };
