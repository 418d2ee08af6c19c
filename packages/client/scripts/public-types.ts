/**
 * Writes the declarations that @warden/client's published types use in place of the workspace
 * packages it imports types from (`@warden/api`, `@warden/contracts`), neither of which is
 * published: `tsup.config.ts` maps both to the file written here.
 *
 * `AppRouter` becomes a router whose procedures keep their kind, input and output, with an
 * opaque context: the server's context type (the domain, drizzle, postgres) stays behind, and a
 * wrong path or a wrong input is still a type error for the package's users. Every type is
 * written out in full (objects, unions, literals), so the file imports nothing but `@trpc/server`.
 *
 * Usage: tsx scripts/public-types.ts (run by `pnpm build`).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
/** Where tsup.config.ts finds the declarations (an intermediate of the build, never committed). */
export const PUBLIC_TYPES_FILE = path.join(packageDir, ".public-types/warden.d.ts");
/** The workspace modules whose types are written out, and what is taken from each. */
const SOURCES = ["@warden/api", "@warden/contracts"] as const;
const ROUTER_NAME = "AppRouter";

/** Type names the client's sources import from each workspace module (type-only imports, or it is an error). */
function importedTypeNames(): Map<string, string> {
  const names = new Map<string, string>();
  const srcDir = path.join(packageDir, "src");
  for (const file of readdirSync(srcDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
    const source = ts.createSourceFile(file, readFileSync(path.join(srcDir, file), "utf8"), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      if (!(ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement))) continue;
      const specifier = statement.moduleSpecifier;
      if (!specifier || !ts.isStringLiteral(specifier)) continue;
      const from = specifier.text as (typeof SOURCES)[number];
      if (!SOURCES.includes(from)) continue;
      const wholeIsType = ts.isImportDeclaration(statement) ? statement.importClause?.isTypeOnly : statement.isTypeOnly;
      const elements = ts.isImportDeclaration(statement)
        ? statement.importClause?.namedBindings && ts.isNamedImports(statement.importClause.namedBindings)
          ? statement.importClause.namedBindings.elements
          : undefined
        : statement.exportClause && ts.isNamedExports(statement.exportClause)
          ? statement.exportClause.elements
          : undefined;
      if (!elements) throw new Error(`${file}: only named type imports from ${from} can be published`);
      for (const element of elements) {
        const name = (element.propertyName ?? element.name).text;
        if (!wholeIsType && !element.isTypeOnly)
          throw new Error(`${file}: ${name} from ${from} is a value: it would ship server code`);
        if (from === "@warden/api" && name !== ROUTER_NAME)
          throw new Error(`${file}: only ${ROUTER_NAME} is published from @warden/api`);
        names.set(name, from);
      }
    }
  }
  return names;
}

function compilerOptions(): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(packageDir, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error("cannot read tsconfig.json");
  return { ...parsed.options, noEmit: true };
}

/** Writes types out in full: no reference to a named type, so nothing needs importing. */
class TypeWriter {
  private readonly stack = new Set<ts.Type>();

  constructor(
    private readonly program: ts.Program,
    private readonly checker: ts.TypeChecker,
  ) {}

  property(type: ts.Type, name: string): ts.Type {
    const symbol = this.checker.getPropertyOfType(type, name);
    if (!symbol) throw new Error(`no property ${name} on ${this.checker.typeToString(type)}`);
    return this.checker.getTypeOfSymbol(symbol);
  }

  has(type: ts.Type, name: string): boolean {
    return this.checker.getPropertyOfType(type, name) !== undefined;
  }

  write(type: ts.Type, indent = ""): string {
    const f = type.flags;
    const T = ts.TypeFlags;
    if (f & T.Any) return "any";
    if (f & T.Unknown) return "unknown";
    if (f & T.Never) return "never";
    if (f & T.Void) return "void";
    if (f & T.Undefined) return "undefined";
    if (f & T.Null) return "null";
    if (f & T.Boolean) return "boolean";
    if (f & T.String) return "string";
    if (f & T.Number) return "number";
    if (f & T.BigInt) return "bigint";
    if (f & T.StringLiteral) return JSON.stringify((type as ts.StringLiteralType).value);
    if (f & (T.NumberLiteral | T.BooleanLiteral | T.BigIntLiteral)) return this.checker.typeToString(type);
    if (f & (T.TemplateLiteral | T.StringMapping)) return this.plain(type);
    if (type.isUnion()) return this.union(type, indent);
    if (type.isIntersection()) {
      if (type.types.every((t) => t.flags & T.Object)) return this.object(type, indent);
      return type.types.map((t) => this.wrap(t, indent)).join(" & ");
    }
    if (f & T.Object) return this.objectLike(type as ts.ObjectType, indent);
    throw new Error(`cannot write ${this.checker.typeToString(type)} out`);
  }

  private union(type: ts.UnionType, indent: string): string {
    const parts = type.types;
    const isTrue = (t: ts.Type) => t.flags & ts.TypeFlags.BooleanLiteral && this.checker.typeToString(t) === "true";
    const isFalse = (t: ts.Type) => t.flags & ts.TypeFlags.BooleanLiteral && this.checker.typeToString(t) === "false";
    const boolean = parts.some(isTrue) && parts.some(isFalse);
    const written: string[] = [];
    // null and undefined read best last: `string | null`.
    const last = (t: ts.Type) => (t.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined) ? 1 : 0);
    for (const part of [...parts].sort((a, b) => last(a) - last(b))) {
      if (boolean && (isTrue(part) || isFalse(part))) {
        if (!written.includes("boolean")) written.push("boolean");
      } else {
        written.push(
          part.isIntersection() && !part.types.every((t) => t.flags & ts.TypeFlags.Object)
            ? `(${this.write(part, indent)})`
            : this.write(part, indent),
        );
      }
    }
    return written.join(" | ");
  }

  /** For an array's element or an intersection's part. */
  private wrap(type: ts.Type, indent: string): string {
    const written = this.write(type, indent);
    return type.isUnion() || type.isIntersection() ? `(${written})` : written;
  }

  /** Text of a type that holds no reference to a declaration of its own (a template literal, a global). */
  private plain(type: ts.Type): string {
    const text = this.checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation);
    if (text.includes("import(")) throw new Error(`cannot write ${text} out`);
    return text;
  }

  private objectLike(type: ts.ObjectType, indent: string): string {
    if (this.checker.isArrayType(type)) {
      const [element] = this.checker.getTypeArguments(type as ts.TypeReference);
      const readonly = type.symbol?.name === "ReadonlyArray" ? "readonly " : "";
      return `${readonly}${this.wrap(element!, indent)}[]`;
    }
    if (this.checker.isTupleType(type)) {
      const target = (type as ts.TypeReference).target as ts.TupleType;
      const elements = this.checker.getTypeArguments(type as ts.TypeReference).map((t, i) => {
        const flags = target.elementFlags[i]!;
        if (flags & ts.ElementFlags.Rest) return `...${this.wrap(t, indent)}[]`;
        return `${this.write(t, indent)}${flags & ts.ElementFlags.Optional ? "?" : ""}`;
      });
      return `${target.readonly ? "readonly " : ""}[${elements.join(", ")}]`;
    }
    // A global (Date, Uint8Array, ...) is the same everywhere: its name will do.
    const declaration = type.symbol?.declarations?.[0];
    if (declaration && this.program.isSourceFileDefaultLibrary(declaration.getSourceFile())) return this.plain(type);
    if (type.getCallSignatures().length || type.getConstructSignatures().length) {
      throw new Error(`a function is no JSON: ${this.checker.typeToString(type)}`);
    }
    return this.object(type, indent);
  }

  private object(type: ts.Type, indent: string): string {
    if (this.stack.has(type)) throw new Error(`recursive type ${this.checker.typeToString(type)}`);
    this.stack.add(type);
    try {
      const inner = `${indent}  `;
      const members: string[] = [];
      for (const info of this.checker.getIndexInfosOfType(type)) {
        members.push(`${info.isReadonly ? "readonly " : ""}[key: ${this.write(info.keyType)}]: ${this.write(info.type, inner)};`);
      }
      for (const symbol of this.checker.getPropertiesOfType(type)) {
        const optional = symbol.flags & ts.SymbolFlags.Optional ? "?" : "";
        const readonly = symbol.declarations?.some((d) => ts.getCombinedModifierFlags(d) & ts.ModifierFlags.Readonly)
          ? "readonly "
          : "";
        const name = /^[A-Za-z_$][\w$]*$/.test(symbol.name) ? symbol.name : JSON.stringify(symbol.name);
        members.push(`${readonly}${name}${optional}: ${this.write(this.checker.getTypeOfSymbol(symbol), inner)};`);
      }
      if (members.length === 0) return "{}";
      return `{\n${members.map((m) => `${inner}${m}`).join("\n")}\n${indent}}`;
    } finally {
      this.stack.delete(type);
    }
  }
}

const PROCEDURE_TYPES = {
  query: "TRPCQueryProcedure",
  mutation: "TRPCMutationProcedure",
  subscription: "TRPCSubscriptionProcedure",
};

/** The router record: procedures with their kind, input and output; nested records alike. */
function writeRecord(writer: TypeWriter, record: ts.Type, checker: ts.TypeChecker, indent: string): string {
  const inner = `${indent}  `;
  const members = checker.getPropertiesOfType(record).map((symbol) => {
    const value = checker.getTypeOfSymbol(symbol);
    let written: string;
    if (writer.has(value, "_def") && writer.has(writer.property(value, "_def"), "procedure")) {
      const def = writer.property(value, "_def");
      const kind = (writer.property(def, "type") as ts.StringLiteralType).value as keyof typeof PROCEDURE_TYPES;
      const types = writer.property(def, "$types");
      const io = `{\n${inner}  input: ${writer.write(writer.property(types, "input"), `${inner}  `)};\n${inner}  output: ${writer.write(writer.property(types, "output"), `${inner}  `)};\n${inner}  meta: object;\n${inner}}`;
      written = `${PROCEDURE_TYPES[kind]}<${io}>`;
    } else if (writer.has(value, "_def")) {
      written = writeRecord(writer, writer.property(writer.property(value, "_def"), "record"), checker, inner);
    } else {
      written = writeRecord(writer, value, checker, inner);
    }
    return `${inner}${symbol.name}: ${written};`;
  });
  return `{\n${members.join("\n")}\n${indent}}`;
}

export function writePublicTypes(): string {
  const names = importedTypeNames();
  const probeFile = path.join(path.dirname(PUBLIC_TYPES_FILE), "probe.ts");
  const imports = SOURCES.map((from) => {
    const fromHere = [...names].filter(([, source]) => source === from).map(([name]) => name);
    return fromHere.length ? `import type { ${fromHere.join(", ")} } from "${from}";` : "";
  });
  const probe = `${imports.join("\n")}\nexport declare const types: { ${[...names.keys()].map((n) => `${n}: ${n}`).join("; ")} };\n`;
  mkdirSync(path.dirname(probeFile), { recursive: true });
  writeFileSync(probeFile, probe);

  const program = ts.createProgram([probeFile], compilerOptions());
  const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(probeFile));
  if (errors.length)
    throw new Error(
      ts.formatDiagnostics(errors, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => packageDir,
        getNewLine: () => "\n",
      }),
    );
  const checker = program.getTypeChecker();
  const writer = new TypeWriter(program, checker);
  const probeSource = program.getSourceFile(probeFile)!;
  const typesSymbol = checker.getExportsOfModule(checker.getSymbolAtLocation(probeSource)!).find((s) => s.name === "types")!;
  const types = checker.getTypeOfSymbol(typesSymbol);

  const out = [
    "// Written by @warden/client's scripts/public-types.ts from the server's AppRouter and @warden/contracts:",
    "// the procedures with their inputs and outputs, the server's context left out.",
  ];
  const declarations: string[] = [];
  for (const name of names.keys()) {
    const type = writer.property(types, name);
    if (name === ROUTER_NAME) {
      const def = writer.property(type, "_def");
      const root = writer.property(writer.property(def, "_config"), "$types");
      const errorShape = writer.write(writer.property(root, "errorShape"), "  ");
      const transformer = writer.write(writer.property(root, "transformer"));
      const record = writeRecord(writer, writer.property(def, "record"), checker, "");
      declarations.push(
        `export type ${name} = TRPCBuiltRouter<{\n  ctx: object;\n  meta: object;\n  errorShape: ${errorShape};\n  transformer: ${transformer};\n}, ${record}>;`,
        "",
      );
    } else {
      declarations.push(`export type ${name} = ${writer.write(type)};`, "");
    }
  }
  const used = ["TRPCBuiltRouter", ...Object.values(PROCEDURE_TYPES)].filter((t) =>
    declarations.some((d) => d.includes(`${t}<`)),
  );
  out.push(`import type { ${used.join(", ")} } from "@trpc/server";`, "", ...declarations);
  const text = out.join("\n");
  writeFileSync(PUBLIC_TYPES_FILE, text);
  return PUBLIC_TYPES_FILE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const file = writePublicTypes();
  console.log(`public types: ${path.relative(packageDir, file)} (${Math.round(performance.now() - started)} ms)`);
}
