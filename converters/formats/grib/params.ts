/**
 * Parameter names of the ERA5 fields: ECMWF GRIB1 table 128 and the GRIB2
 * (discipline, category, number) codes ecCodes writes for them (read off
 * ecCodes 2.28 with grib_set/grib_ls), mapped to ecCodes short names and the
 * cfgrib names used in the store (`2t` → `t2m`, …).
 *
 * @module
 */

/** A parameter's names. */
export interface ParamName {
  /** ecCodes short name (`2t`). */
  shortName: string;
  /** ECMWF parameter id. */
  paramId: number;
  /** Name in the store, as cfgrib names it (`t2m`). */
  cfName: string;
}

const CF_NAMES: Record<string, string> = { "2t": "t2m", "10u": "u10", "10v": "v10", "2d": "d2m" };

function name(shortName: string, paramId: number): ParamName {
  return { shortName, paramId, cfName: CF_NAMES[shortName] ?? shortName };
}

/** ECMWF GRIB1 local table 128: indicatorOfParameter → name. */
const TABLE_128: Record<number, ParamName> = {
  34: name("sst", 34),
  129: name("z", 129),
  130: name("t", 130),
  131: name("u", 131),
  132: name("v", 132),
  133: name("q", 133),
  134: name("sp", 134),
  135: name("w", 135),
  138: name("vo", 138),
  151: name("msl", 151),
  152: name("lnsp", 152),
  155: name("d", 155),
  164: name("tcc", 164),
  165: name("10u", 165),
  166: name("10v", 166),
  167: name("2t", 167),
  168: name("2d", 168),
  172: name("lsm", 172),
  203: name("o3", 203),
  228: name("tp", 228),
  235: name("skt", 235),
};

/** Name of a GRIB1 parameter (table version, indicatorOfParameter). */
export function grib1Param(table: number, param: number): ParamName {
  if (table === 128 || table === 3 || table === 1) {
    const p = TABLE_128[param];
    if (p) return p;
  }
  const n = `param${param}.${table}`;
  return { shortName: n, paramId: table === 128 ? param : 0, cfName: n };
}

/** GRIB2 level types that decide between same-coded parameters. */
const SURFACE = 1, MEAN_SEA = 101, HEIGHT = 103;

/** Name of a GRIB2 parameter from its codes and first fixed surface. */
export function grib2Param(
  discipline: number,
  category: number,
  number: number,
  levelType: number,
  level: number,
): ParamName {
  const key = `${discipline}.${category}.${number}`;
  const at = (h: number) => levelType === HEIGHT && level === h;
  switch (key) {
    case "0.0.0":
      return at(2) ? name("2t", 167) : name("t", 130);
    case "0.2.2":
      return at(10) ? name("10u", 165) : name("u", 131);
    case "0.2.3":
      return at(10) ? name("10v", 166) : name("v", 132);
    case "0.0.6":
      return name("2d", 168);
    case "0.2.8":
      return name("w", 135);
    case "0.3.4":
      return name("z", 129);
    case "0.1.0":
      return name("q", 133);
    case "0.14.1":
      return name("o3", 203);
    case "0.2.12":
      return name("vo", 138);
    case "0.2.13":
      return name("d", 155);
    case "0.3.25":
      return name("lnsp", 152);
    case "0.3.0":
      return levelType === MEAN_SEA ? name("msl", 151) : levelType === SURFACE ? name("sp", 134) : name("pres", 54);
    case "0.1.193":
    case "0.1.8":
      return name("tp", 228);
    case "10.3.0":
      return name("sst", 34);
    case "0.0.17":
      return name("skt", 235);
    case "0.6.192":
      return name("tcc", 164);
  }
  const n = `param${discipline}.${category}.${number}`;
  return { shortName: n, paramId: 0, cfName: n };
}
