using Scriban;
using Scriban.Runtime;
using Scriban.Syntax;

namespace PortableLb.Rendering;

/// <summary>
/// `{{ wrap memo vs }}…{{ end }}`: the block's text for a value that is an <see cref="IMemoKey"/> comes from the
/// <see cref="MemoCache"/> when that key was rendered before; any other value renders the block every time.
/// </summary>
internal sealed class MemoFunction(MemoCache cache) : IScriptCustomFunction
{
    public int RequiredParameterCount => 1;
    public int ParameterCount => 1;
    public ScriptVarParamKind VarParamKind => ScriptVarParamKind.None;
    public Type ReturnType => typeof(string);

    public ScriptParameterInfo GetParameterInfo(int index) => new(typeof(object), "key");

    public object? Invoke(TemplateContext context, ScriptNode? callerContext, ScriptArray arguments, ScriptBlockStatement? blockStatement)
    {
        if (blockStatement is null) throw new ScriptRuntimeException(callerContext?.Span ?? default, "memo is a block: use it as `wrap memo value` … `end`");
        if (arguments.Count != 1) throw new ScriptRuntimeException(callerContext?.Span ?? default, $"memo takes one value, the memo key, not {arguments.Count}");
        string Render()
        {
            var block = new StringBuilderOutput();
            context.PushOutput(block);
            try
            {
                blockStatement.Evaluate(context);
            }
            finally
            {
                context.PopOutput();
            }
            return block.ToString();
        }
        return arguments[0] is IMemoKey keyed ? cache.GetOrRender(keyed.MemoKey, Render) : Render();
    }

    public ValueTask<object?> InvokeAsync(TemplateContext context, ScriptNode? callerContext, ScriptArray arguments, ScriptBlockStatement? blockStatement) =>
        ValueTask.FromResult(Invoke(context, callerContext, arguments, blockStatement));
}
