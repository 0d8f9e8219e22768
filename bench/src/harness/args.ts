/** Command-line flags of `npm run bench`. Kept dependency-free so the bench stays cheap to start. */

export interface BenchArgs {
  devices: number;
  seconds: number;
  saturationSeconds: number;
  saturationConnections: number;
  saturationWindow: number;
  /** The window of run (d), the gateway hosting the broker, which acknowledges only once durable. */
  saturationWindowInProcess: number;
  skipSustained: boolean;
  preEnroll: boolean;
  persistentCeiling: boolean;
  skipSaturation: boolean;
  /** Also run saturation with the gateway acknowledging on arrival, to show what acknowledge-after-durable costs. */
  ackCompare: boolean;
  skipDecode: boolean;
  skipBroker: boolean;
  skipCloud: boolean;
  skipCare: boolean;
  skipDashboard: boolean;
  dashboardDevices: number;
  dashboardSeconds: number;
  skipHistory: boolean;
  skipFhir: boolean;
  historyRuns: number;
  historyEpochMinutes: number;
  cloudDevices: number;
  cloudOutageSeconds: number;
  /** Run only the capacity search (scenarios/capacity.ts). */
  capacity: boolean;
  capacitySeconds: number;
  capacityMin: number;
  capacityMax: number;
  /** Devices; null: 10 % of the bracket's lower bound, at least 100. */
  capacityResolution: number | null;
  capacityBrokers: CapacityBroker[];
  /** --capacity-brokers was given: a mode that cannot run is an error, not a skip. */
  capacityBrokersExplicit: boolean;
  capacityWindow: number;
  capacityOverload: boolean;
  repeatAt: number;
  repeat: number;
  json: boolean;
  keep: boolean;
  help: boolean;
}

export type CapacityBroker = 'ours' | 'mosquitto' | 'in-process';
export const CAPACITY_BROKERS: readonly CapacityBroker[] = ['ours', 'mosquitto', 'in-process'];

export const DEFAULTS: BenchArgs = {
  devices: 1000,
  seconds: 20,
  saturationSeconds: 10,
  saturationConnections: 50,
  saturationWindow: 100,
  saturationWindowInProcess: 4000,
  skipSustained: false,
  preEnroll: false,
  persistentCeiling: true,
  skipSaturation: false,
  ackCompare: true,
  skipDecode: false,
  skipBroker: false,
  skipCloud: false,
  skipCare: false,
  skipDashboard: false,
  dashboardDevices: 100,
  dashboardSeconds: 20,
  skipHistory: false,
  skipFhir: false,
  historyRuns: 5,
  historyEpochMinutes: 15,
  cloudDevices: 100,
  cloudOutageSeconds: 60,
  capacity: false,
  capacitySeconds: 60,
  capacityMin: 250,
  capacityMax: 4000,
  capacityResolution: null,
  capacityBrokers: [...CAPACITY_BROKERS],
  capacityBrokersExplicit: false,
  capacityWindow: 64,
  capacityOverload: true,
  repeatAt: 1000,
  repeat: 5,
  json: false,
  keep: false,
  help: false,
};

export const HELP = `Usage: npm run bench -- [flags]

Measures the broker and the edge gateway as they run in production: each is a separate process
started from the built CLI (cli/dist/src/main.js), against a fresh temporary data directory and
passphrase file that are removed afterwards.

1. Sustained load: --devices simulated wearables (profile "mixed", CBOR, QoS 1, one MQTT connection
   each) run in this process for --seconds. Every reading the broker acknowledged is looked up in the
   gateway's sealed store afterwards: lost / duplicated / invented readings, delivered rate, samples
   per second, and latency = the sealed batch's durableAt − the reading's publish time.
2. Saturation: --saturation-connections publishers send pre-encoded mixed-profile readings as fast as
   they can for --saturation-seconds, each keeping at most --saturation-window unacknowledged QoS 1
   publishes. Each run has a fresh broker: (a) with the gateway subscribed
   (maxMessagesPerSec = readings durably sealed / time from the first publish to the last batch
   being durable), (b) with a bare MQTT subscriber that only counts (ceilingMessagesPerSec).
   ratio = maxMessagesPerSec / ceilingMessagesPerSec. (c) The bare subscriber once more, with a
   persistent session like the gateway's (persistentSessionCeilingMessagesPerSec, and
   ratioVsPersistentSession), which separates the broker's cost of a persistent session from the
   gateway's own cost. (d) The gateway hosting the broker (\`vitalgate gateway --serve-mqtt\`, the
   edge box's deployment), see ratioInProcess below. It acknowledges a device's publish only once the
   reading is durable, about one batch window (2 s) later, so a connection sends at most window /
   2 s: at --saturation-window 100 that caps 50 connections at 2,500/s whatever the gateway could
   do. (d) therefore keeps --saturation-window-in-process publishes in flight per connection
   (default ${DEFAULTS.saturationWindowInProcess}), as a device must to send that fast. (e) Its ceiling:
   a bare counter hosting the broker the same way (bare-subscriber.ts --serve-mqtt), acknowledging
   on arrival, at the same window; ratioInProcess = (d)/(e). (d)/(b), the edge box against a
   separate broker's bare subscriber, is printed beside it as a deployment comparison.
3. Broker: the saturation load against a counting subscriber (subscribed per patient, as a gateway
   under ACLs must) on (1) our broker, (2) our broker with identity and ACLs on (a registry with
   production scrypt cost), (3) Mosquitto anonymous and (4) Mosquitto with password and ACL files,
   one after the other in this run. identityRatio = (2)/(1); vsMosquitto = ours/Mosquitto.
4. Cloud (a broker, a gateway and ingest as processes, anvil for the chain, s3rver for S3):
   (A) --cloud-devices simulated devices (profile "mixed", CBOR, QoS 1) publish while ingest is down
   for --cloud-outage-seconds, then ingest starts and they keep publishing: drainSeconds = from
   ingest's ready line until every batch sealed during the outage is confirmed, split into
   waitSeconds (the gateway's backoff, at most 10 s) and uploadSeconds; then a reconciliation (every
   indexed batch confirmed once and stored, nothing else stored). (B) The gateway uploads 4000 of
   those sealed batches through its spool (bundles of up to 64, 8 requests at a time) to ingest on
   local storage, then on S3 (s3rver on loopback), with nothing else running; beside it a bare
   @aws-sdk/client-s3 loop PUTs the same objects, as ingest sends them, to the same server 8 at a time
   (ratioS3VsBare = ingest rate / bare rate) and 128 at a time (the most PUTs ingest may have in
   flight: s3rver's ceiling). CPU ms per batch of each process shows where the time goes. (C) Catalog
   writes/s, the embedded catalog against InfluxDB (influxd from Debian's influxdb; missing: a loud
   skip, an error under CI=true), one at a time, 16 at a time and in bundles of 64.
5. Care teams (anvil and ingest in this process): µs to seal and open one key envelope (one epoch,
   one grantee) and what a day of them costs; p50/p99 of a clinician's catalog query + batch fetch,
   cold (the chain asked on every request) and cached (the 5 s access cache); and the time from a
   revocation mined on chain to the first refusal at the API, five times.
6. Dashboard, in Chromium (Debian's chromium; missing: a loud skip, an error under CI=true) against
   \`vitalgate start --devices --dashboard-devices\` as a process: the patients view from navigation to
   every row's values decrypted (3 first visits, each a fresh context whose window was opened and left
   idle first, as a clinician's browser is; and once in a window opened at that moment), and live
   latency in a patient's view (a batch's last reading, device time, to drawn), with the bytes
   fetched. One hour of ECG and seven days of history: see 7.
7. Dashboard history, in Chromium (as 6) against the pipeline in a child process: one patient's hour of
   250 Hz ECG (900,000 samples, batches of 2 s, still live) and another's seven days of HR and SpO2
   at 1 Hz (~1.2 M readings, the view loads the hour summaries), fed straight into the gateway with
   past device times, epochs turning every --history-epoch-minutes of that time; then
   --history-runs cold runs of each (a fresh browser context signed in by the demo link): from
   setting the route #/patient/0x…/history/SPAN to the history drawn, with the bytes, requests,
   bundle pages, batches and points, and the page's own time from the history's start.

8. Capacity (--capacity: only this runs): how many devices one machine carries. Devices publish the
   mixed profile at its real rates (device-sim's schedule: ECG 250 Hz in 25-sample frames, PPG 64 Hz
   in 32-sample frames, HR and SpO2 at 1 Hz, temperature every 10 s = 14.1 readings/s per device),
   each its own MQTT connection, QoS 1, CBOR, readings sent when due on the wall clock with ts = their
   real time, starts spread over the first second. A device keeps at most --capacity-window publishes
   unacknowledged; when the broker or gateway is slow it waits, as a real device would, and that wait
   is the publish lag. (In-process, a PUBACK comes only once the reading is durable, about a batch
   window later, so a device needs a window of more than 3 s of its readings, 43: hence 64.) The
   generator is one timer and pre-encoded MQTT packets on raw sockets (only packet id, seq and ts are
   patched), so it leaves the CPU to the processes under test.
   One step = fresh processes and a fresh data directory: the broker, the gateway, N devices publishing
   for --capacity-seconds, then the gateway seals everything acknowledged in its own time and is
   stopped (SIGTERM), and every acknowledged reading is looked up in the sealed store.
   A step PASSES when nothing acknowledged was lost, duplicated or invented and no publish failed,
   the steady p99 of publish → durable is <= 2500 ms (the 2 s batch window + 500 ms), and the devices
   kept up (every due reading sent, publish lag p99 <= 1000 ms: otherwise the devices' own backlog
   would hide the delay from the latency figures).
   The search, per broker mode: N = --capacity-min, doubling until a step fails (or
   --capacity-max passes), then bisection between the last pass and the first failure down to
   --capacity-resolution devices. Modes (--capacity-brokers): ours = \`vitalgate broker\` process +
   gateway process; mosquitto = Debian's mosquitto (missing: a loud skip, an error under CI=true) +
   the same gateway process; in-process = one process, \`vitalgate gateway --serve-mqtt\` hosting the
   broker itself (a build without that flag: a loud skip, an error if named in --capacity-brokers).
   Then overload: 1.5× and 2× each mode's capacity (acknowledged readings must never be lost at any
   load), and --repeat fresh runs at --repeat-at devices with ours and in-process.
   Per step:
     offeredPerSec / publishedPerSec / deliveredPerSec  readings per second on schedule / written /
                                     found in the store, over --capacity-seconds
     latencyMs p50/p99/max           publish (the PUBLISH written to the socket) → the batch's durableAt
                                     in the gateway's index; steadyLatencyMs: readings published after
                                     the first 5 s only (the gateway's first patient enrolments excluded)
     pubackRttMs                     publish → its PUBACK at the device: the broker's acknowledgement
                                     (ours, Mosquitto: on receipt; in-process: once the reading is durable)
     publishLagMs                    written − due on the device's schedule; readings never sent count
                                     with their lag at the end of the run; unsent = how many
     cpuPercent                      % of one core over the publishing time, from /proc (2 cores = 200):
                                     broker, gateway, loadGenerator (this process, process.cpuUsage(): the
                                     generator and the bench's bookkeeping), machineBusyPercentOfAllCores,
                                     otherProcesses (whatever else ran on the machine meanwhile)
     brokerPeakRssMb, gatewayPeakRssMb  VmHWM; in-process the broker's figure is the gateway process's
                                     (brokerRssIsGatewayProcess: true)
     lost / duplicates / invented / failed  as in 1; all 0 = nothing lost. failed = publishes with
                                     no PUBACK 60 s after the run, or in flight when a connection dropped
                                     (disconnects)
     stages                          publishToDurable {mean,p50,p99} (the bench's), receiveToDurable
                                     {mean,p50,p99} (the gateway's own, from the gateway taking the reading
                                     in to its batch durable, printed as a "stages" line when it stops;
                                     null for a build that does not print it), publishToReceiveMean =
                                     publishToDurable.mean − receiveToDurable.mean (broker + network).
                                     Means add up along the path; percentiles do not, so no p99 is given
                                     for publish → receive. durableToUploaded is null here (no ingest
                                     runs): the cloud scenario (4) measures uploads.
   Output: capacity.{ours,mosquitto,inProcess} = {devices (the largest N that passed), passedAt,
   failedAt (the smallest that failed; null: --capacity-max passed), capped, tried}, steps (every
   step as above), overload, repeats, loadGenerator.cpuPercentAt1000 (from a 1000-device step, or
   scaled linearly from the nearest), targets, benchSeconds. A step that ends in a harness error (a
   process did not start or died, a phase timed out) counts as failed, with "error" set; the exit
   status is 1 only when a mode asked for could not run at all.

Flags:
  --devices <n>                  simulated devices in the sustained run (default ${DEFAULTS.devices})
  --seconds <s>                  length of the sustained run in seconds (default ${DEFAULTS.seconds})
  --saturation-seconds <s>       publishing time of each saturation run (default ${DEFAULTS.saturationSeconds})
  --saturation-connections <n>   publisher connections in the saturation runs (default ${DEFAULTS.saturationConnections})
  --saturation-window <n>        max unacknowledged publishes per connection (default ${DEFAULTS.saturationWindow})
  --saturation-window-in-process <n>
                                 the same for run (d), the gateway hosting the broker, which acknowledges
                                 once durable (default ${DEFAULTS.saturationWindowInProcess})
  --pre-enroll                   enrol the simulated patients in the gateway's keystore before the gateway
                                 starts (a gateway that already knows its patients); by default the gateway
                                 enrols each patient when it first seals a batch for it, during the run
  --skip-persistent-ceiling      skip saturation run (c): the bare subscriber again, but with a persistent
                                 session (clean=false, fixed client id) as the gateway connects
  --skip-ack-compare             skip saturation run (a'): the gateway again with --ack-on-arrival, which
                                 shows what acknowledging QoS 1 only once durable costs (ackCost)
  --skip-saturation              run only the sustained measurement
  --skip-decode                  skip the decoder throughput figures (UART frames, GATT notifications,
                                 JSON and CBOR payloads per second, measured in this process first)
  --skip-sustained               skip the sustained measurement
  --skip-broker                  skip the broker comparison (identity on/off, Mosquitto)
  --skip-cloud                   skip the cloud measurements (spool drain, upload throughput, catalog)
  --only-cloud                   run only the cloud measurements
  --skip-care                    skip the care-team measurements (envelopes, clinician API latency, revocation)
  --only-care                    run only the care-team measurements
  --skip-dashboard               skip the dashboard measurements in Chromium
  --only-dashboard               run only the dashboard measurements in Chromium
  --dashboard-devices <n>        simulated devices (one patient each) behind the dashboard (default ${DEFAULTS.dashboardDevices})
  --dashboard-seconds <s>        how long live latency is sampled (default ${DEFAULTS.dashboardSeconds})
  --skip-history                 skip the dashboard history measurements (1 h of ECG, 7 d of HR and SpO2)
  --only-history                 run only the dashboard history measurements
  --skip-fhir                    skip the FHIR R4 export measurement (1 h of the mixed profile, one patient)
  --only-fhir                    run only the FHIR R4 export measurement
  --history-runs <n>             cold runs of each history view (default ${DEFAULTS.historyRuns})
  --history-epoch-minutes <m>    epoch period of the seeded history, in the readings' time (default ${DEFAULTS.historyEpochMinutes}, the gateway's)
  --cloud-devices <n>            devices publishing during the cloud outage (default ${DEFAULTS.cloudDevices})
  --cloud-outage-seconds <s>     how long ingest is down before the drain is timed (default ${DEFAULTS.cloudOutageSeconds})
  --capacity                     run only the capacity search (8); the other parts are skipped
  --capacity-seconds <s>         publishing time of each capacity step (default ${DEFAULTS.capacitySeconds})
  --capacity-min <n>             first and smallest device count tried (default ${DEFAULTS.capacityMin})
  --capacity-max <n>             largest device count tried (default ${DEFAULTS.capacityMax})
  --capacity-resolution <n>      stop bisecting when the bracket is this narrow, in devices (default 10 %
                                 of the bracket's lower bound, at least 100)
  --capacity-brokers <list>      comma-separated modes: ours, mosquitto, in-process (default all that
                                 are available; a named one that cannot run is an error)
  --capacity-window <n>          unacknowledged publishes a device may have (default ${DEFAULTS.capacityWindow})
  --capacity-overload            run each mode at 1.5× and 2× its capacity afterwards (the default)
  --skip-overload                do not
  --repeat-at <n>                devices of the repeated runs (default ${DEFAULTS.repeatAt})
  --repeat <k>                   fresh runs at --repeat-at with ours and in-process (default ${DEFAULTS.repeat}; 0: none)
  --json                         print one JSON object on stdout instead of human-readable lines
  --keep                         keep the temporary data directories (their paths are printed on stderr)
  -h, --help                     show this help

Progress goes to stderr every few seconds. Exit status: 0 when the measurement completed (even if a
target was missed), 1 on a harness error (a process failed to start, a phase timed out, ...).

Environment:
  TMPDIR                           where the temporary directories go (os.tmpdir())
  VITALGATE_BENCH_CHILD_NODE_ARGS  extra node flags for the broker, gateway and subscriber processes,
                                   e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them
  VITALGATE_BENCH_HISTORY_TRACE    a directory: a Chromium trace (every thread, with V8's CPU samples)
                                   of the last run of each history view, history-SPAN.trace.json
                                   (chrome://tracing or ui.perfetto.dev); that run is slower for it

Targets reported under "targets":
  sustainedNoLoss          lost = duplicates = invented = failedPublishes = 0
  p99WithinWindowPlus500   p99 latency <= 2500 ms (the 2 s batch window + 500 ms)
  ratioAtLeast0_8          maxMessagesPerSec >= 0.8 × ceilingMessagesPerSec
  ratioAtLeast0_9          the same at 0.9 (the capacity issue's target, with a separate broker)
  ratioInProcessAtLeast0_9 ratioInProcess >= 0.9: run (d), the gateway hosting the broker, against (e)
  cloudDrainUnder30s       the spool drains a --cloud-outage-seconds outage in under 30 s
  cloudUploadWithin25Pct   ingest on S3 uploads at least 0.8 × the bare S3 PUT rate (8 at a time)
  cloudNothingLost         every batch confirmed once and stored, nothing else stored, no failed publish
  careRevocationUnder2s    a revocation on chain is refused at the clinician API within 2 s (every run)
  dashboardPatientsUnder1s the patients view (--dashboard-devices patients) shows every row's values within 1 s of navigation
  dashboardLiveP95         live latency p95, device time of a batch's last reading to drawn, <= batch window (2 s) + 1 s
  dashboardHistoryEcg1h    1 h of 250 Hz ECG, p50 of setting the route to drawn < 1500 ms
  dashboardHistory7d       7 d of HR and SpO2, p50 of setting the route to drawn < 1500 ms
With --capacity, instead:
  p99At1000In5Of5          every one of the --repeat runs of ours at --repeat-at has p99 <= 2500 ms
                           (p99At1000In5Of5InProcess: the same with the broker in the gateway)
  capacityAtLeast1500      ours or in-process carries at least 1500 devices
  loadGeneratorUnder25Pct  the load generator uses under 25 % of one core at 1000 devices
`;

export class UsageError extends Error {}

function num(flag: string, v: string | undefined, integer: boolean): number {
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(v)})`);
  }
  return n;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const a: BenchArgs = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string | undefined => (raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--devices': a.devices = num(flag, value(), true); break;
      case '--seconds': a.seconds = num(flag, value(), false); break;
      case '--saturation-seconds': a.saturationSeconds = num(flag, value(), false); break;
      case '--saturation-connections': a.saturationConnections = num(flag, value(), true); break;
      case '--saturation-window': a.saturationWindow = num(flag, value(), true); break;
      case '--saturation-window-in-process': a.saturationWindowInProcess = num(flag, value(), true); break;
      case '--skip-saturation': a.skipSaturation = true; break;
      case '--skip-decode': a.skipDecode = true; break;
      case '--skip-broker': a.skipBroker = true; break;
      case '--skip-sustained': a.skipSustained = true; break;
      case '--skip-cloud': a.skipCloud = true; break;
      case '--only-cloud': a.skipFhir = a.skipSustained = a.skipSaturation = a.skipBroker = a.skipDecode = a.skipCare = a.skipDashboard = a.skipHistory = true; break;
      case '--skip-care': a.skipCare = true; break;
      case '--only-care': a.skipFhir = a.skipSustained = a.skipSaturation = a.skipBroker = a.skipDecode = a.skipCloud = a.skipDashboard = a.skipHistory = true; break;
      case '--skip-dashboard': a.skipDashboard = true; break;
      case '--only-dashboard': a.skipFhir = a.skipSustained = a.skipSaturation = a.skipBroker = a.skipDecode = a.skipCloud = a.skipCare = a.skipHistory = true; break;
      case '--skip-history': a.skipHistory = true; break;
      case '--skip-fhir': a.skipFhir = true; break;
      case '--only-fhir': a.skipSustained = a.skipSaturation = a.skipBroker = a.skipDecode = a.skipCloud = a.skipCare = a.skipDashboard = a.skipHistory = true; break;
      case '--only-history': a.skipFhir = a.skipSustained = a.skipSaturation = a.skipBroker = a.skipDecode = a.skipCloud = a.skipCare = a.skipDashboard = true; break;
      case '--history-runs': a.historyRuns = num(flag, value(), true); break;
      case '--history-epoch-minutes': a.historyEpochMinutes = num(flag, value(), false); break;
      case '--dashboard-devices': a.dashboardDevices = num(flag, value(), true); break;
      case '--dashboard-seconds': a.dashboardSeconds = num(flag, value(), false); break;
      case '--cloud-devices': a.cloudDevices = num(flag, value(), true); break;
      case '--cloud-outage-seconds': a.cloudOutageSeconds = num(flag, value(), false); break;
      case '--pre-enroll': a.preEnroll = true; break;
      case '--skip-persistent-ceiling': a.persistentCeiling = false; break;
      case '--skip-ack-compare': a.ackCompare = false; break;
      case '--capacity': a.capacity = true; break;
      case '--capacity-seconds': a.capacitySeconds = num(flag, value(), false); break;
      case '--capacity-min': a.capacityMin = num(flag, value(), true); break;
      case '--capacity-max': a.capacityMax = num(flag, value(), true); break;
      case '--capacity-resolution': a.capacityResolution = num(flag, value(), true); break;
      case '--capacity-window': a.capacityWindow = num(flag, value(), true); break;
      case '--capacity-brokers': {
        const v = value();
        if (!v) throw new UsageError(`${flag} needs a value`);
        const list = v.split(',').map((x) => x.trim()).filter(Boolean);
        for (const m of list) if (!(CAPACITY_BROKERS as readonly string[]).includes(m)) throw new UsageError(`${flag}: unknown mode ${JSON.stringify(m)} (ours, mosquitto, in-process)`);
        if (!list.length) throw new UsageError(`${flag} needs at least one mode`);
        a.capacityBrokers = [...new Set(list)] as CapacityBroker[];
        a.capacityBrokersExplicit = true;
        break;
      }
      case '--capacity-overload': a.capacityOverload = true; break;
      case '--skip-overload': a.capacityOverload = false; break;
      case '--repeat-at': a.repeatAt = num(flag, value(), true); break;
      case '--repeat': {
        const v = value();
        a.repeat = v === '0' ? 0 : num(flag, v, true);
        break;
      }
      case '--json': a.json = true; break;
      case '--keep': a.keep = true; break;
      case '-h': case '--help': a.help = true; break;
      default: throw new UsageError(`unknown argument ${JSON.stringify(raw)}`);
    }
  }
  if (a.skipSaturation && a.skipSustained && a.skipBroker && a.skipCloud && a.skipCare && a.skipDashboard && a.skipHistory && a.skipFhir) throw new UsageError('--skip-saturation, --skip-sustained, --skip-broker, --skip-cloud, --skip-care, --skip-dashboard, --skip-history and --skip-fhir leave nothing to measure');
  if (a.capacityMin > a.capacityMax) throw new UsageError(`--capacity-min (${a.capacityMin}) is above --capacity-max (${a.capacityMax})`);
  // Packet ids cycle over twice the window, and the ten-second schedule must outlast it.
  if (a.capacityWindow > 100) throw new UsageError('--capacity-window must be at most 100');
  if (a.saturationWindow > 60_000) throw new UsageError('--saturation-window must be at most 60000 (MQTT packet ids are 16 bits)');
  if (a.saturationWindowInProcess > 60_000) throw new UsageError('--saturation-window-in-process must be at most 60000 (MQTT packet ids are 16 bits)');
  return a;
}
