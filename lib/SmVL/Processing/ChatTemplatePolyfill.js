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
  for (let i = 0; i < s.length; ) {
    const c = s.codePointAt(i), ch = String.fromCodePoint(c);
    i += ch.length;
    if (ch === q || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (!__smvl_isPrintable(c))
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
    case "ArrayValue":
      if (v.__smvl_tuple) return "(" + v.value.map(__smvl_repr).join(", ") + (v.value.length === 1 ? ",)" : ")");
      return "[" + v.value.map(__smvl_repr).join(", ") + "]";
    case "TupleValue": return "(" + v.value.map(__smvl_repr).join(", ") + (v.value.length === 1 ? ",)" : ")");
    case "ObjectValue": case "KeywordArgumentsValue":
      return "{" + Array.from(v.value.entries()).map(([k, x]) => __smvl_pyStr(k) + ": " + __smvl_repr(x)).join(", ") + "}";
    default: return String(v.value);
  }
}

BooleanValue.prototype.toString = function () { return this.value ? "True" : "False"; };
// An int beyond 2^53 keeps its digits for printing (arithmetic on it is approximate).
IntegerValue.prototype.toString = function () { return this.__smvl_digits ?? String(this.value); };
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
    // json.dumps refuses jinja2's Undefined (a missing tool_call.function | tojson must fail).
    case "UndefinedValue": if (convertUndefinedToNull) throw new Error("Object of type Undefined is not JSON serializable"); return "undefined";
    case "BooleanValue": return input.value ? "true" : "false";
    case "IntegerValue": return input.toString();
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
      // Python str methods the bundle lacks; the character classes come from .NET (Jint's \p{} is unreliable).
      for (const kind of ["isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower"])
        if (!map.has(kind)) map.set(kind, new FunctionValue(() => new BooleanValue(__smvl_strClass(s, kind))));
      const arg = (args, i, dflt) => (args.length > i && args[i] instanceof StringValue ? args[i].value : dflt);
      const pad = (args) => (args.length > 0 ? Math.max(args[0].value - s.length, 0) : 0);
      if (!map.has("find")) map.set("find", new FunctionValue((args) => new IntegerValue(s.indexOf(arg(args, 0, "")))));
      if (!map.has("rfind")) map.set("rfind", new FunctionValue((args) => new IntegerValue(s.lastIndexOf(arg(args, 0, "")))));
      if (!map.has("count")) map.set("count", new FunctionValue((args) => {
        const sub = arg(args, 0, "");
        return new IntegerValue(sub === "" ? s.length + 1 : s.split(sub).length - 1);
      }));
      if (!map.has("index")) map.set("index", new FunctionValue((args) => {
        const i = s.indexOf(arg(args, 0, ""));
        if (i < 0) throw new Error("substring not found");
        return new IntegerValue(i);
      }));
      if (!map.has("rjust")) map.set("rjust", new FunctionValue((args) => new StringValue(arg(args, 1, " ").repeat(pad(args)) + s)));
      if (!map.has("ljust")) map.set("ljust", new FunctionValue((args) => new StringValue(s + arg(args, 1, " ").repeat(pad(args)))));
      if (!map.has("center")) map.set("center", new FunctionValue((args) => {
        // CPython: left = marg / 2 + (marg & width & 1).
        const total = pad(args), fill = arg(args, 1, " ");
        const left = Math.floor(total / 2) + (total & (args.length > 0 ? args[0].value : 0) & 1);
        return new StringValue(fill.repeat(left) + s + fill.repeat(total - left));
      }));
      if (!map.has("zfill")) map.set("zfill", new FunctionValue((args) => {
        const sign = s[0] === "+" || s[0] === "-" ? s[0] : "";
        return new StringValue(sign + "0".repeat(pad(args)) + s.slice(sign.length));
      }));
      map.__smvl = true;
    }
    return map;
  },
});

// Python's str() of a runtime value (an undefined value prints as nothing, as jinja2's Undefined).
function __smvl_str(v) {
  if (v instanceof StringValue) return v.value;
  if (v instanceof UndefinedValue) return "";
  if (v instanceof ArrayValue || v instanceof ObjectValue) return __smvl_repr(v);
  return v.toString();
}
function __smvl_pyType(v) {
  return v instanceof StringValue ? "str" : v instanceof IntegerValue ? "int" : v instanceof FloatValue ? "float"
    : v instanceof BooleanValue ? "bool" : v instanceof NullValue ? "NoneType" : v instanceof ArrayValue ? "list"
    : v instanceof ObjectValue ? "dict" : v.type;
}
const __smvl_constant = (value) => ({ type: "__smvl_Constant", value });

// Python's ==: no coercion between strings, numbers and None ("" != false, "1" != 1), True == 1,
// element-wise for lists and dicts; the bundle used JavaScript's loose ==.
function __smvl_eq(a, b) {
  const num = (v) => v instanceof IntegerValue || v instanceof FloatValue || v instanceof BooleanValue;
  if (num(a) && num(b)) return Number(a.value) === Number(b.value) && (a.__smvl_digits ?? null) === (b.__smvl_digits ?? null);
  if (a instanceof ArrayValue && b instanceof ArrayValue)
    return a.value.length === b.value.length && a.value.every((x, i) => __smvl_eq(x, b.value[i]));
  if (a instanceof ObjectValue && b instanceof ObjectValue)
    return a.value.size === b.value.size && Array.from(a.value).every(([k, x]) => b.value.has(k) && __smvl_eq(x, b.value.get(k)));
  if (a.type !== b.type) return false;
  return a instanceof StringValue ? a.value === b.value : a instanceof NullValue || a instanceof UndefinedValue || a.value === b.value;
}

// Python refuses str + non-str (the bundle concatenates JS text, so a template adding a list
// content to a string rendered instead of failing); ~ joins Python str() of both sides.
const __smvl_evaluateBinary = Interpreter.prototype.evaluateBinaryExpression;
const __smvl_binaryOps = new Set(["+", "~", "==", "!=", "%", "*", "<", ">", "<=", ">="]);
Interpreter.prototype.evaluateBinaryExpression = function (node, environment) {
  const op = node.operator.value;
  if (!__smvl_binaryOps.has(op)) return __smvl_evaluateBinary.call(this, node, environment);
  const left = this.evaluate(node.left, environment), right = this.evaluate(node.right, environment);
  if (op === "~") return new StringValue(__smvl_str(left) + __smvl_str(right));
  if (op === "==" || op === "!=") return new BooleanValue(__smvl_eq(left, right) === (op === "=="));
  // Strings order by code point.
  if (left instanceof StringValue && right instanceof StringValue && (op === "<" || op === ">" || op === "<=" || op === ">=")) {
    const a = Array.from(left.value, (c) => c.codePointAt(0)), b = Array.from(right.value, (c) => c.codePointAt(0));
    let cmp = 0;
    for (let i = 0; i < Math.min(a.length, b.length) && cmp === 0; i++) cmp = a[i] - b[i];
    if (cmp === 0) cmp = a.length - b.length;
    return new BooleanValue(op === "<" ? cmp < 0 : op === ">" ? cmp > 0 : op === "<=" ? cmp <= 0 : cmp >= 0);
  }
  const isNum = (v) => v instanceof IntegerValue || v instanceof FloatValue;
  // Python's % takes the divisor's sign (-7 % 3 == 2); JavaScript's the dividend's.
  if (op === "%" && isNum(left) && isNum(right) && right.value !== 0) {
    let r = left.value % right.value;
    if (r !== 0 && (r < 0) !== (right.value < 0)) r += right.value;
    return left instanceof FloatValue || right instanceof FloatValue ? new FloatValue(r) : new IntegerValue(r);
  }
  // Sequence repetition: 'ab' * 3, [1] * 2, 3 * 'ab'.
  if (op === "*") {
    const [seq, n] = right instanceof IntegerValue ? [left, right.value] : left instanceof IntegerValue ? [right, left.value] : [null, 0];
    if (seq instanceof StringValue) return new StringValue(seq.value.repeat(Math.max(n, 0)));
    if (seq instanceof ArrayValue) return new ArrayValue(Array.from({ length: Math.max(n, 0) }, () => seq.value).flat());
  }
  if (op !== "+") return __smvl_evaluateBinary.call(this, { ...node, left: __smvl_constant(left), right: __smvl_constant(right) }, environment);
  const undef = left instanceof UndefinedValue || right instanceof UndefinedValue;
  if (!undef && (left instanceof StringValue) !== (right instanceof StringValue))
    throw new Error(left instanceof StringValue ? `can only concatenate str (not "${__smvl_pyType(right)}") to str`
      : `unsupported operand type(s) for +: '${__smvl_pyType(left)}' and '${__smvl_pyType(right)}'`);
  return __smvl_evaluateBinary.call(this, { ...node, left: __smvl_constant(left), right: __smvl_constant(right) }, environment);
};

// jinja2's Undefined raises on attribute or item access (''[0]['type'], a missing key's .text);
// the bundle returned another undefined and rendered on.
const __smvl_evaluateMember = Interpreter.prototype.evaluateMemberExpression;
Interpreter.prototype.evaluateMemberExpression = function (expr, environment) {
  const object = this.evaluate(expr.object, environment);
  if (object instanceof UndefinedValue) {
    const what = expr.object.type === "Identifier" ? `'${expr.object.value}'` : "value";
    throw new Error(`UndefinedError: ${what} is undefined`);
  }
  return __smvl_evaluateMember.call(this, { ...expr, object: __smvl_constant(object) }, environment);
};

// jinja2's string filters take any value through str() (a list content | trim is its repr,
// stripped; none | string is "None"); the bundle refuses them or prints JSON for lists.
const __smvl_stringFilters = new Set(["trim", "upper", "lower", "title", "capitalize", "replace", "indent", "center", "wordcount", "truncate"]);
const __smvl_iteratingFilters = new Set(["selectattr", "rejectattr", "select", "reject", "map", "list", "join", "unique", "sort"]);
const __smvl_applyFilter = Interpreter.prototype.applyFilter;
Interpreter.prototype.applyFilter = function (operand, filterNode, environment) {
  let name = filterNode.type === "Identifier" ? filterNode.value
    : filterNode.type === "CallExpression" && filterNode.callee.type === "Identifier" ? filterNode.callee.value : null;
  if (name === "string") return operand instanceof StringValue ? operand : new StringValue(__smvl_str(operand));
  if (name === "count" && filterNode.type === "Identifier") name = "length";
  if (name === "length" && filterNode.type === "Identifier" && (operand instanceof ArrayValue || operand instanceof ObjectValue || operand instanceof StringValue))
    return new IntegerValue(operand instanceof ObjectValue ? operand.value.size : operand instanceof StringValue ? Array.from(operand.value).length : operand.value.length);
  // jinja2's title filter capitalises after - space ( { [ < only ("it's" stays "It's"), unlike str.title().
  if (name === "title" && filterNode.type === "Identifier")
    return new StringValue(__smvl_str(operand).split(/([-\s({\[<]+)/).filter((w) => w).map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join(""));
  if (name === "reverse" && operand instanceof StringValue) return new StringValue(Array.from(operand.value).reverse().join(""));
  if (__smvl_stringFilters.has(name) && !(operand instanceof StringValue)) operand = new StringValue(__smvl_str(operand));
  // Filters that iterate see a string as its characters (content | selectattr('type', ...) on a string content).
  if (__smvl_iteratingFilters.has(name) && operand instanceof StringValue) operand = new ArrayValue(Array.from(operand.value, (c) => new StringValue(c)));
  // selectattr/rejectattr on items that are not dicts: their attribute is undefined, so the test
  // fails: selectattr drops them, rejectattr keeps them (the bundle refuses such lists).
  if ((name === "items" || name === "dictsort") && operand instanceof ObjectValue)
    return __smvl_tuples(__smvl_applyFilter.call(this, operand, filterNode, environment));
  if ((name === "selectattr" || name === "rejectattr") && operand instanceof ArrayValue && operand.value.some((x) => !(x instanceof ObjectValue))) {
    const objects = operand.value.filter((x) => x instanceof ObjectValue);
    const chosen = new Set(__smvl_applyFilter.call(this, new ArrayValue(objects), filterNode, environment).value);
    return new ArrayValue(operand.value.filter((x) => x instanceof ObjectValue ? chosen.has(x) : name === "rejectattr"));
  }
  return __smvl_applyFilter.call(this, operand, filterNode, environment);
};

// dict.items() and dictsort give (key, value) tuples, printed "('a', 1)" (the bundle made lists).
// (Pairs stay ArrayValues, which the bundle's loop unpacking needs, marked to print as tuples.)
const __smvl_tuples = (pairs) => new ArrayValue(pairs.value.map((p) => Object.assign(new ArrayValue(p.value), { __smvl_tuple: true })));
const __smvl_items = ObjectValue.prototype.items;
ObjectValue.prototype.items = function () { return __smvl_tuples(__smvl_items.call(this)); };
const __smvl_objectBuiltins = Object.getOwnPropertyDescriptor(ObjectValue.prototype, "builtins").get;
Object.defineProperty(ObjectValue.prototype, "builtins", {
  get() {
    const map = __smvl_objectBuiltins.call(this);
    if (!map.__smvl) {
      const dictsort = map.get("dictsort");
      map.set("dictsort", new FunctionValue((args, env) => __smvl_tuples(dictsort.value(args, env))));
      map.__smvl = true;
    }
    return map;
  },
});
// A dict is iterable in Python (over its keys).
Environment.TESTS.set("iterable", (v) => v instanceof ArrayValue || v instanceof StringValue || v instanceof ObjectValue);

// Tagged JSON from C#: ["n"], ["b", x], ["s", x], ["i", x], ["I", "digits"] (an int beyond 2^53), ["f", x], ["a", [tagged...]], ["o", [[key, tagged]...]].
function __smvl_value(t) {
  switch (t[0]) {
    case "n": return new NullValue();
    case "b": return new BooleanValue(t[1]);
    case "s": return new StringValue(t[1]);
    case "i": return new IntegerValue(t[1]);
    case "I": { const v = new IntegerValue(Number(t[1])); v.__smvl_digits = t[1]; return v; }
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
