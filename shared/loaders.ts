/**
 * Nodes that load a file from ComfyUI's input dir, and the input naming it. The client fills them from the user's files;
 * the worker stages bundle files under its own names and points these inputs at them.
 */
export const FILE_LOADERS: Readonly<Record<string, string>> = {
  LoadImage: 'image',
  LoadImageMask: 'image',
  LoadImageOutput: 'image',
  LoadAudio: 'audio',
  LoadVideo: 'file',
  VHS_LoadVideo: 'video',
  VHS_LoadAudioUpload: 'audio',
};
