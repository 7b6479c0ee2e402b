namespace SmVL.Processing;

/// <summary>
/// JavaScript run after @huggingface/jinja's index.cjs, in the same global scope (the bundle's
/// top-level classes and functions are globals there). It builds the render context with Python's
/// types and makes the engine print values the way Python jinja2 + transformers does, where
/// @huggingface/jinja 0.5.11 differs (each difference is proven by a probe in
/// tests/fixtures/templates/reference.json):
/// <list type="bullet">
/// <item>the context arrives as tagged JSON, so 1.0 stays a float (plain JSON.parse makes it an
/// int) and object keys keep their order (JS objects move integer-like keys such as "2" first);</item>
/// <item>floats print as Python's repr (1e+16, 1e-05, 1.0) in output and in tojson (JS gives
/// 10000000000000000.0, 0.00001 and 1);</item>
/// <item>true/false/none print as True/False/None, lists and dicts as Python's repr;</item>
/// <item>tojson is json.dumps as transformers binds it: ", "/": " separators, "," when indented,
/// indent=0 still breaks lines, sort_keys by code point, ensure_ascii as \uXXXX pairs;</item>
/// <item>an output expression that is None prints "None" (the bundle prints nothing);</item>
/// <item>a for loop over a string iterates its characters (the bundle throws; the SmVL template
/// does this for a user message whose string content is a tool response);</item>
/// <item>strip/lstrip/rstrip honour their characters argument, e.g. .strip('\n');</item>
/// <item>capitalize lowercases the rest ("uSER" → "User"; SmolVLM2's template capitalizes roles);</item>
/// <item>strftime_now formats through .NET with Python's C-locale names.</item>
/// </list>
/// Not covered: `~`/`+` on a float or boolean operand concatenates JS text ("1", "true"); no
/// shipped template does that.
/// </summary>
internal static class ChatTemplatePolyfill
{
    public const string Script = """
function __smvl_pyFloat(v) {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const sign = v < 0 ? "-" : "";
  const [mant, e] = Math.abs(v).toExponential().split("e");
  const exp = parseInt(e, 10);
  const digits = mant.replace(".", "");
  if (exp < -4 || exp >= 16) return sign + mant + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
  if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
  if (digits.length <= exp + 1) return sign + digits + "0".repeat(exp + 1 - digits.length) + ".0";
  return sign + digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
}

function __smvl_hex(c, width) { return c.toString(16).padStart(width, "0"); }

function __smvl_pyStr(s) {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === q || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch !== " " && /^[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u.test(ch))
      out += c < 0x100 ? "\\x" + __smvl_hex(c, 2) : c < 0x10000 ? "\\u" + __smvl_hex(c, 4) : "\\U" + __smvl_hex(c, 8);
    else out += ch;
  }
  return out + q;
}

function __smvl_repr(v) {
  switch (v.type) {
    case "NullValue": case "UndefinedValue": return "None";
    case "BooleanValue": return v.value ? "True" : "False";
    case "FloatValue": return __smvl_pyFloat(v.value);
    case "StringValue": return __smvl_pyStr(v.value);
    case "ArrayValue": return "[" + v.value.map(__smvl_repr).join(", ") + "]";
    case "TupleValue": return "(" + v.value.map(__smvl_repr).join(", ") + (v.value.length === 1 ? ",)" : ")");
    case "ObjectValue": case "KeywordArgumentsValue":
      return "{" + Array.from(v.value.entries()).map(([k, x]) => __smvl_pyStr(k) + ": " + __smvl_repr(x)).join(", ") + "}";
    default: return String(v.value);
  }
}

BooleanValue.prototype.toString = function () { return this.value ? "True" : "False"; };
NullValue.prototype.toString = function () { return "None"; };
FloatValue.prototype.toString = function () { return __smvl_pyFloat(this.value); };
ArrayValue.prototype.toString = function () { return __smvl_repr(this); };
ObjectValue.prototype.toString = function () { return __smvl_repr(this); };

function __smvl_jsonString(s, ensureAscii) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i], c = s.charCodeAt(i);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += "\\u" + __smvl_hex(c, 4);
    else out += ch;
  }
  return out + '"';
}

// Replaces the bundle's global toJSON, which its tojson filter and string conversions call.
toJSON = function (input, options = {}, depth = 0, convertUndefinedToNull = true) {
  const { indent = null, ensureAscii = false, separators = null, sortKeys = false } = options;
  const pretty = indent !== null && indent !== undefined;
  const [itemSep, keySep] = separators ?? (pretty ? [",", ": "] : [", ", ": "]);
  const pad = (d) => pretty ? "\n" + " ".repeat(indent * d) : "";
  const recurse = (x) => toJSON(x, options, depth + 1, convertUndefinedToNull);
  switch (input.type) {
    case "NullValue": return "null";
    case "UndefinedValue": return convertUndefinedToNull ? "null" : "undefined";
    case "BooleanValue": return input.value ? "true" : "false";
    case "IntegerValue": return String(input.value);
    case "FloatValue": return __smvl_pyFloat(input.value);
    case "StringValue": return __smvl_jsonString(input.value, ensureAscii);
    case "ArrayValue": case "TupleValue": {
      if (input.value.length === 0) return "[]";
      return "[" + pad(depth + 1) + input.value.map(recurse).join(itemSep + pad(depth + 1)) + pad(depth) + "]";
    }
    case "ObjectValue": case "NamespaceValue": case "KeywordArgumentsValue": {
      let entries = Array.from(input.value.entries());
      if (entries.length === 0) return "{}";
      if (sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return "{" + pad(depth + 1) + entries.map(([k, v]) => __smvl_jsonString(k, ensureAscii) + keySep + recurse(v)).join(itemSep + pad(depth + 1)) + pad(depth) + "}";
    }
    default: throw new Error("Object of type " + input.type + " is not JSON serializable");
  }
};

// Python prints None for an output expression that is None; statements ({% set %} etc.) print nothing.
const __smvl_statements = new Set(["Program", "If", "For", "Break", "Continue", "Set", "Macro", "Comment", "FilterStatement", "CallStatement"]);
Interpreter.prototype.evaluateBlock = function (statements, environment) {
  let result = "";
  for (const statement of statements) {
    const v = this.evaluate(statement, environment);
    if (v.type === "UndefinedValue" || (v.type === "NullValue" && __smvl_statements.has(statement.type))) continue;
    result += v.toString();
  }
  return new StringValue(result);
};

// Python iterates a string character by character; the bundle refuses. The loop is run over an
// array of one-character strings instead, passed in as a constant node.
const __smvl_evaluate = Interpreter.prototype.evaluate;
Interpreter.prototype.evaluate = function (node, environment) {
  return node && node.type === "__smvl_Constant" ? node.value : __smvl_evaluate.call(this, node, environment);
};
const __smvl_evaluateFor = Interpreter.prototype.evaluateFor;
Interpreter.prototype.evaluateFor = function (node, environment) {
  const iterable = node.iterable;
  if (iterable.type !== "SelectExpression") {
    const value = this.evaluate(iterable, environment);
    if (value instanceof StringValue) {
      node.iterable = { type: "__smvl_Constant", value: new ArrayValue(Array.from(value.value, (c) => new StringValue(c))) };
      try { return __smvl_evaluateFor.call(this, node, environment); } finally { node.iterable = iterable; }
    }
  }
  return __smvl_evaluateFor.call(this, node, environment);
};

// str.strip/lstrip/rstrip take an optional set of characters (the templates call .strip('\n'));
// the bundle ignores it and trims JavaScript whitespace. Without an argument Python strips
// str.isspace() characters. Python's capitalize also lowercases the rest; the bundle's does not.
const __smvl_space = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
function __smvl_strip(s, args, left, right) {
  const chars = args.length > 0 && args[0] instanceof StringValue ? args[0].value : __smvl_space;
  let a = 0, b = s.length;
  if (left) while (a < b && chars.includes(s[a])) a++;
  if (right) while (b > a && chars.includes(s[b - 1])) b--;
  return new StringValue(s.slice(a, b));
}
const __smvl_stringBuiltins = Object.getOwnPropertyDescriptor(StringValue.prototype, "builtins").get;
Object.defineProperty(StringValue.prototype, "builtins", {
  get() {
    const map = __smvl_stringBuiltins.call(this);
    if (!map.__smvl) {
      const s = this.value;
      map.set("strip", new FunctionValue((args) => __smvl_strip(s, args, true, true)));
      map.set("lstrip", new FunctionValue((args) => __smvl_strip(s, args, true, false)));
      map.set("rstrip", new FunctionValue((args) => __smvl_strip(s, args, false, true)));
      map.set("capitalize", new FunctionValue(() => new StringValue(s.charAt(0).toUpperCase() + s.slice(1).toLowerCase())));
      map.__smvl = true;
    }
    return map;
  },
});

// Tagged JSON from C#: ["n"], ["b", x], ["s", x], ["i", x], ["f", x], ["a", [tagged...]], ["o", [[key, tagged]...]].
function __smvl_value(t) {
  switch (t[0]) {
    case "n": return new NullValue();
    case "b": return new BooleanValue(t[1]);
    case "s": return new StringValue(t[1]);
    case "i": return new IntegerValue(t[1]);
    case "f": return new FloatValue(t[1]);
    case "a": return new ArrayValue(t[1].map(__smvl_value));
    case "o": return new ObjectValue(new Map(t[1].map(([k, v]) => [k, __smvl_value(v)])));
    default: throw new Error("bad tagged value " + JSON.stringify(t));
  }
}

function __smvl_parse(source) { return new Template(source); }

function __smvl_render(template, taggedContext) {
  const env = new Environment();
  setupGlobals(env);
  env.variables.set("strftime_now", new FunctionValue((args) => new StringValue(__smvl_strftime(args.length > 0 ? String(args[0].value) : ""))));
  for (const [key, value] of __smvl_value(JSON.parse(taggedContext)).value) env.variables.set(key, value);
  return new Interpreter(env).run(template.parsed).value;
}
""";
}
