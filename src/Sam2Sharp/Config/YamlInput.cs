using Sam2Sharp.IO;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Sam2Sharp.Config;

/// <summary>
/// YAML files the user gives (model configs, training run configs), read within a size cap and with the nesting
/// depth bounded before YamlDotNet's recursive deserializer sees them (40k nested brackets would overflow its stack).
/// </summary>
public static class YamlInput
{
    /// <summary>Config files are a few kilobytes; anything past this is not one.</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>Deeper nesting than any config has.</summary>
    public const int MaxDepth = 32;

    /// <summary>A parser over a regular file's events, for <c>IDeserializer.Deserialize</c>; <paramref name="what"/> names it in messages.</summary>
    public static IParser Open(string path, string what)
    {
        using var stream = InputFiles.OpenRegular(path, what);
        return new Replay(ReadEvents(stream, $"{what} {path}"));
    }

    /// <summary>All parser events, the nesting depth bounded; <paramref name="name"/> prefixes messages.</summary>
    public static List<ParsingEvent> ReadEvents(Stream stream, string name)
    {
        var text = InputFiles.ReadText(stream, MaxBytes, name);
        var events = new List<ParsingEvent>();
        int depth = 0;
        try
        {
            var parser = new Parser(new StringReader(text));
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                if (e is AnchorAlias) throw new Sam2Exception($"{name}: YAML aliases are not supported (line {e.Start.Line})");
                if (e is MappingStart or SequenceStart && ++depth > MaxDepth)
                    throw new Sam2Exception($"{name}: nested deeper than {MaxDepth} levels at line {e.Start.Line}");
                if (e is MappingEnd or SequenceEnd) depth--;
                events.Add(e);
            }
        }
        catch (YamlException e) { throw new Sam2Exception($"{name}: invalid YAML at line {e.Start.Line}: {FirstLine(e.Message)}"); }
        // YamlDotNet's scanner throws this on some malformed plain scalars (found by fuzzing).
        catch (InvalidOperationException e) { throw new Sam2Exception($"{name}: invalid YAML ({FirstLine(e.Message)})"); }
        return events;
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>Plays a list of events back as a parser.</summary>
    internal sealed class Replay(IReadOnlyList<ParsingEvent> events) : IParser
    {
        int next = -1;
        /// <inheritdoc/>
        public ParsingEvent? Current => next >= 0 && next < events.Count ? events[next] : null;
        /// <inheritdoc/>
        public bool MoveNext() => ++next < events.Count;
    }
}
