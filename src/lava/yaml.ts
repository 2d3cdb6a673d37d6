// A YAML writer for the plain data of LAVA job and device files: mappings,
// sequences, strings, numbers, booleans and null. Strings are always written
// double-quoted with JSON escapes (valid YAML), so no value is misread as
// another type ("yes", "6.12", "0x10").
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function scalar(v: string | number | boolean | null): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError(`yaml: ${v} is not a finite number`);
  return String(v);
}

function key(k: string): string {
  return PLAIN_KEY.test(k) ? k : JSON.stringify(k);
}

function lines(v: YamlValue, indent: string): string[] {
  if (Array.isArray(v)) {
    if (!v.length) return [`${indent}[]`];
    return v.flatMap((item) => {
      const inner = lines(item, `${indent}  `);
      return [`${indent}- ${inner[0].trimStart()}`, ...inner.slice(1)];
    });
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v);
    if (!entries.length) return [`${indent}{}`];
    return entries.flatMap(([k, x]) => {
      if (x !== null && typeof x === 'object' && (Array.isArray(x) ? x.length : Object.keys(x).length)) {
        return [`${indent}${key(k)}:`, ...lines(x, `${indent}  `)];
      }
      return [`${indent}${key(k)}: ${lines(x, '')[0]}`];
    });
  }
  return [`${indent}${scalar(v)}`];
}

export function toYaml(v: YamlValue): string {
  return lines(v, '').join('\n') + '\n';
}
