using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// The methods of TorchSharp.dll that make a <c>Scalar</c> inside (their IL calls
/// <c>Scalar.op_Implicit</c> or a <c>ToScalar</c> extension) and leave it to the finalizer, read
/// from the IL itself: e.g. <c>Tensor operator *(Tensor, double)</c>, <c>Tensor.add_(Tensor, double)</c>'s
/// callers, AdamW's step closure. A method that takes a delegate to such a method (<c>ldftn</c>,
/// as <c>AdamW.step</c> does with its per-group lambda) counts too; other calls are not followed,
/// so the set is what one call from our code can make.
/// </summary>
internal static class ScalarMakingMembers
{
    /// <summary>Metadata tokens (MethodDef) of TorchSharp methods that make Scalars.</summary>
    public static IReadOnlySet<int> In(string torchSharpDll)
    {
        using var stream = File.OpenRead(torchSharpDll);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();

        bool IsMaker(EntityHandle h)
        {
            (string type, string name) = h.Kind switch
            {
                HandleKind.MethodDefinition => DefName((MethodDefinitionHandle)h),
                HandleKind.MemberReference => RefName((MemberReferenceHandle)h),
                HandleKind.MethodSpecification => NameOf(md.GetMethodSpecification((MethodSpecificationHandle)h).Method),
                _ => ("", ""),
            };
            return type == "TorchSharp.Scalar" && name == "op_Implicit"
                || type == "TorchSharp.ScalarExtensionMethods" && name is "ToScalar" or "ToBFloat16Scalar";
        }
        (string, string) NameOf(EntityHandle h) => h.Kind == HandleKind.MethodDefinition
            ? DefName((MethodDefinitionHandle)h) : h.Kind == HandleKind.MemberReference ? RefName((MemberReferenceHandle)h) : ("", "");
        (string, string) DefName(MethodDefinitionHandle h)
        {
            var m = md.GetMethodDefinition(h);
            return (TypeName(m.GetDeclaringType()), md.GetString(m.Name));
        }
        (string, string) RefName(MemberReferenceHandle h)
        {
            var r = md.GetMemberReference(h);
            string type = r.Parent.Kind == HandleKind.TypeReference
                ? Full(md.GetTypeReference((TypeReferenceHandle)r.Parent)) : r.Parent.Kind == HandleKind.TypeDefinition
                ? TypeName((TypeDefinitionHandle)r.Parent) : "";
            return (type, md.GetString(r.Name));
        }
        string Full(TypeReference t) => md.GetString(t.Namespace) + "." + md.GetString(t.Name);
        string TypeName(TypeDefinitionHandle h)
        {
            var t = md.GetTypeDefinition(h);
            return t.IsNested ? TypeName(t.GetDeclaringType()) + "+" + md.GetString(t.Name) : md.GetString(t.Namespace) + "." + md.GetString(t.Name);
        }

        var makes = new HashSet<int>();
        var delegates = new Dictionary<int, List<int>>();
        foreach (var mh in md.MethodDefinitions)
        {
            var m = md.GetMethodDefinition(mh);
            if (m.RelativeVirtualAddress == 0) continue;
            var il = pe.GetMethodBody(m.RelativeVirtualAddress).GetILReader();
            int token = MetadataTokens.GetToken(mh);
            while (il.RemainingBytes > 0)
            {
                var op = ReadOpCode(ref il);
                if (op is ILOpCode.Call or ILOpCode.Callvirt or ILOpCode.Newobj or ILOpCode.Ldftn or ILOpCode.Ldvirtftn)
                {
                    var target = MetadataTokens.EntityHandle(il.ReadInt32());
                    if (IsMaker(target)) makes.Add(token);
                    else if (target.Kind == HandleKind.MethodDefinition)
                        (delegates.TryGetValue(token, out var l) ? l : delegates[token] = new()).Add(MetadataTokens.GetToken(target));
                }
                else SkipOperand(ref il, op);
            }
        }
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (method, targets) in delegates)
                if (!makes.Contains(method) && targets.Any(makes.Contains)) { makes.Add(method); grew = true; }
        }
        return makes;
    }

    private static ILOpCode ReadOpCode(ref BlobReader il)
    {
        byte b = il.ReadByte();
        return b == 0xFE ? (ILOpCode)(0xFE00 | il.ReadByte()) : (ILOpCode)b;
    }

    private static void SkipOperand(ref BlobReader il, ILOpCode op)
    {
        switch (op)
        {
            case ILOpCode.Switch: il.Offset += 4 * il.ReadInt32(); break;
            case ILOpCode.Ldarg_s or ILOpCode.Ldarga_s or ILOpCode.Starg_s or ILOpCode.Ldloc_s or ILOpCode.Ldloca_s or ILOpCode.Stloc_s
                or ILOpCode.Ldc_i4_s or ILOpCode.Unaligned or ILOpCode.Br_s or ILOpCode.Brfalse_s or ILOpCode.Brtrue_s
                or ILOpCode.Beq_s or ILOpCode.Bge_s or ILOpCode.Bgt_s or ILOpCode.Ble_s or ILOpCode.Blt_s or ILOpCode.Bne_un_s
                or ILOpCode.Bge_un_s or ILOpCode.Bgt_un_s or ILOpCode.Ble_un_s or ILOpCode.Blt_un_s or ILOpCode.Leave_s:
                il.Offset += 1; break;
            case ILOpCode.Ldarg or ILOpCode.Ldarga or ILOpCode.Starg or ILOpCode.Ldloc or ILOpCode.Ldloca or ILOpCode.Stloc:
                il.Offset += 2; break;
            case ILOpCode.Ldc_i8 or ILOpCode.Ldc_r8: il.Offset += 8; break;
            default:
                if (HasToken(op) || op.IsBranch() || op is ILOpCode.Ldc_i4 or ILOpCode.Ldc_r4)
                    il.Offset += 4;
                break;
        }
    }

    private static bool HasToken(ILOpCode op) => op is ILOpCode.Jmp or ILOpCode.Call or ILOpCode.Calli or ILOpCode.Callvirt
        or ILOpCode.Cpobj or ILOpCode.Ldobj or ILOpCode.Ldstr or ILOpCode.Newobj or ILOpCode.Castclass or ILOpCode.Isinst
        or ILOpCode.Unbox or ILOpCode.Ldfld or ILOpCode.Ldflda or ILOpCode.Stfld or ILOpCode.Ldsfld or ILOpCode.Ldsflda
        or ILOpCode.Stsfld or ILOpCode.Stobj or ILOpCode.Box or ILOpCode.Newarr or ILOpCode.Ldelema or ILOpCode.Ldelem
        or ILOpCode.Stelem or ILOpCode.Unbox_any or ILOpCode.Refanyval or ILOpCode.Mkrefany or ILOpCode.Ldtoken
        or ILOpCode.Ldftn or ILOpCode.Ldvirtftn or ILOpCode.Initobj or ILOpCode.Constrained or ILOpCode.Sizeof;
}
