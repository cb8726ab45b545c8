/**
 * The keys that appear more than once in one JSON object of `text`, at any depth, as
 * "path.key". JSON.parse keeps the last of duplicate keys silently, so a log line must be
 * read as text to see them; log pipelines (Loki, Elasticsearch, CloudWatch Insights) drop,
 * reject or overwrite such lines.
 */
export function duplicateKeys(text: string): string[] {
  const duplicates: string[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`not JSON (${what} at ${i}): ${text.slice(0, 200)}`);
  };
  const space = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') {
      if (i >= text.length) fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail('key expected');
        const key = string();
        if (seen.has(key)) duplicates.push(`${path}${key}`);
        seen.add(key);
        space();
        if (text[i++] !== ':') fail('colon expected');
        value(`${path}${key}.`);
        space();
        const next = text[i++];
        if (next === '}') return;
        if (next !== ',') fail('comma expected');
      }
    } else if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(`${path}[].`);
        space();
        const next = text[i++];
        if (next === ']') return;
        if (next !== ',') fail('comma expected');
      }
    } else if (c === '"') {
      string();
    } else {
      const match = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
      if (!match) fail('value expected');
      i += match![0].length;
    }
  };
  value('');
  space();
  if (i !== text.length) fail('trailing text');
  return duplicates;
}
