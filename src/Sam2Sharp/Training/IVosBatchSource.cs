namespace Sam2Sharp.Training; public interface IVosBatchSource { BatchedVideoDatapoint Next(Random rng); }
