namespace SmVL.Data;

/// <summary>
/// An ordered sample sequence that can be read again from any sample it has handed out: each
/// sample comes with a token, and <see cref="From"/> with that token continues right after it. A
/// resumed run restarts from the token its checkpoint recorded instead of reading every sample
/// before it again.
/// </summary>
public interface ISampleSequence
{
    /// <summary>The samples after the one <paramref name="after"/> names (from the start when null).</summary>
    IEnumerable<(VqaSample Sample, string Token)> From(string? after);
}

/// <summary>A sequence held in memory; the token is the index.</summary>
public sealed class SampleList(IReadOnlyList<VqaSample> samples) : ISampleSequence
{
    public IEnumerable<(VqaSample Sample, string Token)> From(string? after)
    {
        int start = after is null ? 0 : int.Parse(after, System.Globalization.CultureInfo.InvariantCulture) + 1;
        for (int i = start; i < samples.Count; i++) yield return (samples[i], i.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
