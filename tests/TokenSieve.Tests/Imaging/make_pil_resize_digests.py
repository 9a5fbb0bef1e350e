# Prints the InlineData rows of PilResampleTests.Matches_Pillow_digest: SHA-256 of Image.resize outputs
# on a formula pattern. Run with Debian bookworm python3-pil 9.4.0 (the version of the llava-tiny goldens).
from PIL import Image
import hashlib
def pattern(w,h):
    return bytes((((x*73) ^ (y*151) ^ (c*29)) + x*y) % 256 for y in range(h) for x in range(w) for c in range(3))
cases=[(640,480,336,252,3),(480,640,336,448,3),(97,61,56,35,3),(1000,563,596,336,3),(300,300,336,336,3),(13,7,56,30,3),(336,336,24,24,3),(400,123,57,17,1),(400,123,57,17,2),(400,123,57,17,4),(400,123,57,17,5),(31,47,200,9,3)]
for w,h,ow,oh,f in cases:
    img=Image.frombytes('RGB',(w,h),pattern(w,h))
    out=img.resize((ow,oh),resample=f)
    print(f'    [InlineData({w}, {h}, {ow}, {oh}, ResampleFilter.{["Nearest","Lanczos","Bilinear","Bicubic","Box","Hamming"][f]}, "{hashlib.sha256(out.tobytes()).hexdigest()}")]')
