/**
 * The package's public surface names every type its signatures use. A user who calls `Cascade.create(…, use)` must be
 * able to write the type of `use`: a type that appears in an exported function's, class's or type's signature but is
 * not exported from src/index.ts can be used only unnamed (`Parameters<typeof …>`). Walks, with the TypeScript
 * checker, every export of src/index.ts: parameters and return types (inferred ones too), public class members,
 * and the members of exported types, transitively.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = path.dirname(fileURLToPath(import.meta.url));

/** Types declared in src/ that exported signatures use but src/index.ts does not export, with where each is used. */
function unexportedTypes(entry: string): Map<string, string> {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true, noEmit: true, strict: true, skipLibCheck: true, resolveJsonModule: true, types: ['node'],
  });
  const checker = program.getTypeChecker();
  const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).map(resolve));
  const missing = new Map<string, string>();
  const walked = new Set<ts.Symbol>();
  const named = ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum;

  const consider = (symbol: ts.Symbol | undefined, where: string): void => {
    if (!symbol) return;
    const s = resolve(symbol);
    const file = s.declarations?.[0]?.getSourceFile().fileName;
    if (!file || !file.startsWith(SRC + path.sep) || file.endsWith('.test.ts') || !(s.flags & named)) return;
    // A generic alias (DeepReadonly<T>) is a type-level function: what users name is the type it makes (Config).
    const generic = s.declarations!.some((d) => ts.isTypeAliasDeclaration(d) && (d.typeParameters?.length ?? 0) > 0);
    if (!exported.has(s) && !generic) {
      if (!missing.has(s.name)) missing.set(s.name, where);
      return;
    }
    walk(s);
  };
  /**
   * The named types a type is made of: its alias or symbol, type arguments, union and intersection members, and for
   * an unnamed object or function type (an inferred return { opts }, an arrow function) its members and signatures.
   */
  const considerType = (t: ts.Type, where: string, depth = 0): void => {
    if (depth > 4) return;
    consider(t.aliasSymbol ?? t.getSymbol(), where);
    for (const a of t.aliasTypeArguments ?? []) considerType(a, where, depth + 1);
    if (t.flags & ts.TypeFlags.Object && (t as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
      for (const a of checker.getTypeArguments(t as ts.TypeReference)) considerType(a, where, depth + 1);
    }
    if (t.isUnionOrIntersection()) for (const u of t.types) considerType(u, where, depth + 1);
    if (t.flags & ts.TypeFlags.Object && (t as ts.ObjectType).objectFlags & ts.ObjectFlags.Anonymous && !t.aliasSymbol) {
      for (const p of t.getProperties()) {
        const decl = p.valueDeclaration ?? p.declarations?.[0];
        if (decl) considerType(checker.getTypeOfSymbolAtLocation(p, decl), `${where}.${p.name}`, depth + 1);
      }
      for (const sig of t.getCallSignatures()) {
        for (const param of sig.getParameters()) {
          const decl = param.valueDeclaration ?? param.declarations?.[0];
          if (decl) considerType(checker.getTypeOfSymbolAtLocation(param, decl), where, depth + 1);
        }
        considerType(sig.getReturnType(), where, depth + 1);
      }
    }
  };
  /** Every type named in the type annotations under `node`. */
  const typeNodes = (node: ts.Node, where: string): void => {
    const visit = (n: ts.Node): void => {
      if (ts.isTypeReferenceNode(n)) consider(checker.getSymbolAtLocation(n.typeName), where);
      else if (ts.isExpressionWithTypeArguments(n)) consider(checker.getSymbolAtLocation(n.expression), where);
      ts.forEachChild(n, visit);
    };
    visit(node);
  };
  const isPublic = (m: ts.ClassElement): boolean => !(m.name && ts.isPrivateIdentifier(m.name))
    && !(ts.getCombinedModifierFlags(m as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected));
  const signature = (d: ts.SignatureDeclaration, where: string): void => {
    for (const p of d.parameters) if (p.type) typeNodes(p.type, where);
    if (d.type) typeNodes(d.type, where);
    else {
      // An inferred return type is public too.
      const sig = checker.getSignatureFromDeclaration(d);
      if (sig) considerType(checker.getReturnTypeOfSignature(sig), where);
    }
  };

  function walk(s: ts.Symbol): void {
    if (walked.has(s)) return;
    walked.add(s);
    for (const d of s.declarations ?? []) {
      if (ts.isFunctionDeclaration(d)) signature(d, `${s.name}()`);
      else if (ts.isClassDeclaration(d)) {
        for (const h of d.heritageClauses ?? []) typeNodes(h, s.name);
        for (const m of d.members.filter(isPublic)) {
          const where = `${s.name}.${m.name?.getText() ?? 'constructor'}`;
          if (ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m) || ts.isAccessor(m)) signature(m, where);
          else if (ts.isPropertyDeclaration(m)) {
            if (m.type) typeNodes(m.type, where);
            else considerType(checker.getTypeAtLocation(m), where);
          }
        }
      } else if (ts.isInterfaceDeclaration(d) || ts.isTypeAliasDeclaration(d)) typeNodes(d, s.name);
      else if (ts.isVariableDeclaration(d)) {
        if (d.type) typeNodes(d.type, s.name);
        else considerType(checker.getTypeAtLocation(d), s.name);
      }
    }
  }

  for (const s of exported) walk(s);
  return missing;
}

describe('public surface', () => {
  it('every type in an exported signature is exported from src/index.ts (by name)', () => {
    const missing = unexportedTypes(path.join(SRC, 'index.ts'));
    assert.deepEqual([...missing].map(([type, where]) => `${type} (used by ${where})`), []);
  });
});
