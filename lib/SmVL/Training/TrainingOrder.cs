namespace SmVL.Training;

/// <summary>The order in which a run visits its training samples.</summary>
public static class TrainingOrder
{
    /// <summary>A permutation of 0..n-1 seeded by <paramref name="seed"/> (System.Random's shuffle, as the tiny world has always used).</summary>
    public static int[] Permutation(int n, long seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random((int)seed).Shuffle(order);
        return order;
    }
}
