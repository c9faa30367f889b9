/**
 * `deno task retrieve era5`: ERA5 from the Climate Data Store, split the way
 * the CDS accepts large requests (one request per month, optionally per
 * variable too, as era5cli does), a bounded number of jobs in flight, each
 * file named predictably (`era5-pl-2020-01.nc`, `era5-sl-2020-01-2m_temperature.grib`)
 * so that `convert era5 DIR` takes the directory; finished files are
 * skipped, interrupted ones resumed (see cds.ts).
 *
 * @module
 */
import { join } from "node:path";
import { ConfigError } from "../../../errors.ts";
import { parseMonth } from "../../../time.ts";
import type { CdsClient, RetrieveOptions } from "./cds.ts";

/** What to retrieve. */
export interface RetrievePlanOptions {
  /** `pressure-levels` or `single-levels` (or a full dataset id). */
  dataset: string;
  /** CDS variable names (`temperature`, `2m_temperature`, …). */
  variables: string[];
  /** Pressure levels in hPa (pressure-level dataset only). */
  levels?: number[];
  /** First and last month, `YYYY-MM`. */
  months: [string, string];
  /** Hours of day, default 00..23. */
  hours?: number[];
  /** Area N/W/S/E. */
  area?: [number, number, number, number];
  /** Grid spacing in degrees (the CDS interpolates). */
  grid?: number;
  /** `netcdf` (default) or `grib`. */
  format?: "netcdf" | "grib";
  /** One request per month (default) or per month and variable. */
  split?: "month" | "variable";
  /** Directory of the files. */
  out: string;
}

/** One request to the CDS and the file it fills. */
export interface PlannedRequest {
  /** Dataset id. */
  dataset: string;
  /** The request's inputs. */
  request: Record<string, unknown>;
  /** File to write. */
  target: string;
}

const DATASETS: Record<string, [string, string]> = {
  "pressure-levels": ["reanalysis-era5-pressure-levels", "pl"],
  "single-levels": ["reanalysis-era5-single-levels", "sl"],
};

/** The requests, one per month (and variable), with their file names. */
export function planRequests(o: RetrievePlanOptions): PlannedRequest[] {
  const known = DATASETS[o.dataset] ?? Object.values(DATASETS).find(([id]) => id === o.dataset);
  if (!known) {
    throw new ConfigError("--dataset", `"${o.dataset}" is not one of ${Object.keys(DATASETS).join(", ")}`);
  }
  const [dataset, tag] = known;
  if (o.variables.length === 0) throw new ConfigError("--variables", "give at least one CDS variable name");
  if (tag === "pl" && !o.levels?.length) throw new ConfigError("--levels", "pressure-level requests need --levels");
  const parse = (m: string) => {
    const [year, month] = parseMonth(m, "--months");
    return year * 12 + month - 1;
  };
  const [m0, m1] = o.months.map(parse);
  if (m1 < m0) throw new ConfigError("--months", `${o.months.join("/")}: the end lies before the start`);
  const hours = (o.hours ?? Array.from({ length: 24 }, (_, h) => h)).map((h) => `${String(h).padStart(2, "0")}:00`);
  const ext = o.format === "grib" ? "grib" : "nc";
  const out: PlannedRequest[] = [];
  for (let m = m0; m <= m1; m++) {
    const year = Math.floor(m / 12), month = (m % 12) + 1;
    const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const groups = o.split === "variable" ? o.variables.map((v) => [v]) : [o.variables];
    for (const variables of groups) {
      const request: Record<string, unknown> = {
        product_type: ["reanalysis"],
        variable: variables,
        year: [String(year)],
        month: [String(month).padStart(2, "0")],
        day: Array.from({ length: days }, (_, d) => String(d + 1).padStart(2, "0")),
        time: hours,
        data_format: o.format ?? "netcdf",
        download_format: "unarchived",
      };
      if (tag === "pl") request.pressure_level = o.levels!.map(String);
      if (o.area) request.area = o.area;
      if (o.grid) request.grid = [o.grid, o.grid];
      const name = `era5-${tag}-${year}-${String(month).padStart(2, "0")}${
        o.split === "variable" ? `-${variables[0]}` : ""
      }.${ext}`;
      out.push({ dataset, request, target: join(o.out, name) });
    }
  }
  return out;
}

/** Run the planned requests, at most `jobs` at once; files already complete are skipped. */
export async function runRequests(
  client: CdsClient,
  plan: PlannedRequest[],
  jobs: number,
  opts: RetrieveOptions & { log?: (line: string) => void } = {},
): Promise<{ fetched: number; skipped: number }> {
  let next = 0, fetched = 0, skipped = 0;
  let failure: unknown;
  const log = opts.log ?? (() => {});
  const worker = async () => {
    while (next < plan.length && failure === undefined) {
      const p = plan[next++];
      try {
        Deno.statSync(p.target);
        skipped++;
        log(`${p.target}: already there`);
        continue;
      } catch { /* to fetch */ }
      try {
        const r = await client.retrieve(p.dataset, p.request, p.target, {
          ...opts,
          onStatus: (s, id) => log(`${p.target}: job ${id} ${s}`),
        });
        fetched++;
        log(`${p.target}: ${r.bytes} bytes${r.resumed ? " (resumed)" : ""}`);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  if (failure !== undefined) throw failure;
  return { fetched, skipped };
}
